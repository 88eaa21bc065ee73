"""Declarative automation: a new raw month requests its features, then its drift and scores."""

import dagster as dg

from creditplatform.definitions import build_definitions
from creditplatform.homecredit import TABLES
from creditplatform.settings import load_settings

MONTH = "2024-03"


def materialise(instance, key, partition=None):
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key, partition=partition))


def requested(result, key: str) -> set[str]:
    return set(result.get_requested_partitions(dg.AssetKey.from_user_string(key)))


def test_new_month_flows_through_features_then_drift_and_scores():
    defs = build_definitions(load_settings())
    with dg.instance_for_test() as instance:
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert result.total_requested == 0  # nothing landed yet

        for spec in TABLES.values():
            materialise(instance, ["raw", spec.asset_name], MONTH)
        result = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor
        )
        assert requested(result, "feature_store") == {MONTH}
        assert requested(result, "drift_report") == set()  # features not there yet

        materialise(instance, "feature_store", MONTH)
        result = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor
        )
        # No champion has ever been promoted: nothing to compare with or score with yet.
        assert requested(result, "drift_report") == set()
        assert requested(result, "batch_scores") == set()

        materialise(instance, "registry_promotion")
        result = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor
        )
        assert requested(result, "drift_report") == {MONTH}
        assert requested(result, "batch_scores") == {MONTH}

        materialise(instance, "drift_report", MONTH)
        materialise(instance, "batch_scores", MONTH)
        materialise(instance, "registry_promotion")  # a new champion ...
        result = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor
        )
        assert requested(result, "drift_report") == set()  # ... does not re-run past months


def test_automation_sensor_starts_running():
    defs = build_definitions(load_settings())
    sensor = defs.resolve_sensor_def("automation_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
