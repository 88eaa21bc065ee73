"""One clock: the demo's simulated time drives every age and lateness rule; the wall clock
otherwise. Plus the pure pieces of the adapting loop: the drift reference's months, the
performance rule and the drift-episode explanation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from creditplatform import clock
from creditplatform.definitions import platform_resources
from creditplatform.defs.retrain_triggers import staleness_sensor
from creditplatform.ml.retrain_rules import degraded_in_a_row
from creditplatform.months import reference_months
from creditplatform.sensor_state import tick_context
from creditplatform.settings import load_settings
from creditplatform.status import describe_episode, drift_episode


def test_wall_clock_without_a_clock_file(tmp_path: Path):
    before = datetime.now(UTC)
    assert clock.simulated(tmp_path) is None and clock.last_partition_month(tmp_path) is None
    assert before <= clock.now(tmp_path) <= datetime.now(UTC)


def test_simulated_clock_starts_where_it_is_set_and_runs_on(tmp_path: Path):
    due = clock.due_date("2025-06", due_day=5)
    assert due == datetime(2025, 7, 5, tzinfo=UTC)
    clock.set_simulated(tmp_path, due)
    first, second = clock.now(tmp_path), clock.now(tmp_path)
    assert due <= first <= second < due + timedelta(minutes=5)  # normal speed from there
    assert clock.last_partition_month(tmp_path) == "2025-06"
    assert [p.name for p in tmp_path.iterdir()] == [clock.CLOCK_FILE]  # no partial file left
    assert clock.due_date("2024-12", due_day=5) == datetime(2025, 1, 5, tzinfo=UTC)


def test_the_demo_clock_sets_the_partition_range_of_a_fresh_code_load(tmp_path: Path):
    import subprocess
    import sys

    clock.set_simulated(tmp_path, clock.due_date("2024-08", due_day=5))
    code = (
        "from creditplatform.defs.partitions import monthly_partitions as p;"
        "print(p.get_partition_keys()[-1])"
    )
    env = {"CREDITPLATFORM_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "2024-08", out.stderr[-2000:]


def _staleness(instance):
    context = tick_context(staleness_sensor, instance, platform_resources(load_settings()))
    data = staleness_sensor.evaluate_tick(context)
    return data.run_requests or [], data.skip_message


def test_staleness_and_overdue_follow_the_simulated_clock(_isolated_data_dir: Path):
    """Months of 2024 under a clock in 2024: nothing overdue, a model ages in simulated days
    (``trained_at``), though every event happened minutes ago on the wall clock."""
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=["raw", "application"], partition="2024-03")
        )
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key="candidate_model", metadata={"trained_at": "2024-01-10T00:00:00+00:00"}
            )
        )
        clock.set_simulated(_isolated_data_dir, clock.due_date("2024-03", due_day=5))
        requests, skip = _staleness(instance)
        assert requests == [] and "landing overdue" not in skip
        assert "model is 86.0 days old (limit 90)" in skip  # 2024-01-10 -> 2024-04-05
        alerts = load_settings().reports_dir / "alerts.jsonl"
        assert not alerts.exists()
        # A month later by the simulated clock: the model is overdue, 2024-04 is missing.
        clock.set_simulated(_isolated_data_dir, clock.due_date("2024-04", due_day=5))
        requests, skip = _staleness(instance)
        assert "landing overdue: expected 2024-04, latest 2024-03" in skip
        assert "model overdue" in skip  # 116 simulated days
        assert json.loads(alerts.read_text().splitlines()[-1])["kind"] == "landing_overdue"


def test_reference_months_are_the_newest_in_time_months_of_the_window():
    window = ["2024-01", "2024-02", "2024-03", "2024-04"]  # 2024-04 is out-of-time
    assert reference_months(window, 2) == ["2024-02", "2024-03"]
    assert reference_months(window, 1) == ["2024-03"]
    assert reference_months(window, 9) == ["2024-01", "2024-02", "2024-03"]


@pytest.mark.parametrize(
    ("degraded", "fires"),
    [
        ({"2025-01": True, "2025-02": True}, True),
        ({"2025-01": False, "2025-02": True}, False),  # the month before was not degraded
        ({"2025-02": True}, False),  # the month before has no judgement (not matured)
        ({"2024-12": True, "2025-02": True}, False),  # a gap breaks the run
    ],
)
def test_performance_rule_needs_consecutive_months(degraded: dict, fires: bool):
    assert degraded_in_a_row(degraded, "2025-02", 2) is fires


def test_drift_episode_explains_why_drift_persists():
    drift = [{"month": m, "max_psi": p} for m, p in
             [("2025-01", 0.05), ("2025-02", 3.1), ("2025-03", 2.9), ("2025-04", 2.2)]]  # fmt: skip
    decided = datetime(2025, 4, 5, tzinfo=UTC)
    decisions = [{"trigger": "drift", "decided_at": decided}, {"trigger": "staleness",
                 "decided_at": decided + timedelta(days=1)}]  # fmt: skip
    episode = drift_episode(drift, ["2025-01", "2025-02"], decisions, 0.2, 24.0)
    assert episode == {
        "since": "2025-02", "months": 3, "reference_months": ["2025-01", "2025-02"],
        "reference_months_in_episode": 1, "next_drift_retrain_after": "2025-04-06T00:00:00+00:00",
    }  # fmt: skip
    assert describe_episode(episode) == (
        "drift persists since 2025-02 (3 month(s)): next drift retrain allowed after "
        "2025-04-06T00:00:00+00:00; drifted months in the champion's reference: 1 of 2"
    )
    assert drift_episode(drift[:1], [], decisions, 0.2, 24.0) is None  # stable now
