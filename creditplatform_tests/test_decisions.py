"""The decisions on evidence end to end, on real Dagster, MLflow and DuckDB: a candidate
evaluated on too few defaults is refused with the reason (the champion stays, one alert says
why, the report and the MLflow run carry the intervals); a champion past its retirement age is
alerted once, tagged in the registry and named by ``status``; a person's retrain carries its
reason, window and parameters; a degraded champion with a better earlier version is rolled
back through the journal."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from creditplatform import clock
from creditplatform.cli import main
from creditplatform.definitions import build_definitions, platform_resources
from creditplatform.defs.retrain_triggers import drift_retrain_sensor, staleness_sensor
from creditplatform.ml.registry import Registry, champion_since
from creditplatform.sensor_state import tick_context
from creditplatform.settings import load_settings
from creditplatform.status import render, status
from creditplatform.warehouse.landing import land_month


def _alerts(data: Path, kind: str) -> list[dict]:
    path = data / "reports" / "alerts.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [a for a in map(json.loads, lines) if a["kind"] == kind]


def test_too_few_defaults_is_refused_with_the_reason(platform, monkeypatch):
    settings = load_settings()
    monkeypatch.setenv("CREDITPLATFORM_GATE_MIN_DEFAULTS", "50")  # the default, on 600 a month
    assert main(["retrain"]) == 0
    client = Registry.for_settings(settings).client()
    v2 = client.get_model_version(settings.registered_model, "2")
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        decided = con.execute(
            "SELECT version, decision, reasons, gates, champion_after FROM audit.promotions "
            "ORDER BY decided_at DESC LIMIT 1"
        ).fetchone()
        test_defaults = con.execute(  # counted from the rows, not from the report
            "SELECT count(*) FROM ml.training_splits s JOIN features.feature_store f "
            "USING (month, SK_ID_CURR) WHERE s.split_set = ? AND s.split = 'test' "
            "AND f.TARGET = 1",
            [v2.tags["data_sha256"]],
        ).fetchone()[0]
    version, decision, reasons, gates, champion_after = decided
    assert (version, decision, champion_after) == (2, "rejected", 1)  # v1 stays champion
    assert 2 <= test_defaults < 50
    assert json.loads(reasons)[0].startswith(
        f"insufficient evidence: {test_defaults} defaults in test (needs 50)"
    )
    failed = [g["name"] for g in json.loads(gates)["gates"] if not g["passed"]]
    assert "min_defaults" in failed
    # The other gates still state their numbers, now with intervals beside them.
    assert any("ROC-AUC" in r and "[" in r and "DeLong" in r for r in json.loads(reasons))

    (alert,) = _alerts(settings.data_dir, "candidate_rejected")
    assert (alert["version"], alert["champion"]) == (2, 1)
    assert "min_defaults" in alert["failed_gates"] and alert["reasons"] == json.loads(reasons)

    report = json.loads((settings.reports_dir / "evaluation" / "v2" / "report.json").read_text())
    candidate = report["metrics"]["test"]["candidate"]
    lo, hi = candidate["roc_auc_ci"]
    assert lo < candidate["roc_auc"] < hi and candidate["defaults"] == test_defaults
    assert len(candidate["brier_ci"]) == len(candidate["ece_ci"]) == 2
    paired = report["comparisons"]["test"]["candidate_vs_champion"]
    assert paired["ci"][0] <= paired["difference"] <= paired["ci"][1]
    assert 0 <= paired["p_value"] <= 1
    assert "DeLong" in (settings.reports_dir / "evaluation" / "v2" / "report.html").read_text()

    logged = client.get_run(v2.run_id).data.metrics
    assert logged["test_roc_auc_ci_lo"] == lo and logged["test_roc_auc_ci_hi"] == hi
    assert logged["test_auc_diff_vs_champion_p_value"] == paired["p_value"]


def test_a_champion_past_its_retirement_age_is_alerted_once_and_tagged(platform):
    settings = load_settings()
    client = Registry.for_settings(settings).client()
    champion = client.get_model_version_by_alias(settings.registered_model, "champion")
    later = champion_since(champion) + timedelta(days=settings.retire_after_days + 1)
    clock.set_simulated(settings.data_dir, later)
    cursor = None
    with dg.instance_for_test() as instance:
        for _ in range(2):  # two ticks: one alert
            resources = platform_resources(settings)
            context = tick_context(staleness_sensor, instance, resources, cursor=cursor)
            cursor = staleness_sensor.evaluate_tick(context).cursor
    (alert,) = _alerts(settings.data_dir, "retirement_due")
    assert alert["champion_version"] == int(champion.version)
    tags = client.get_model_version(settings.registered_model, champion.version).tags
    assert tags["retirement_due"].startswith(later.date().isoformat())
    shown = render(status(settings, Registry.for_settings(settings)))
    assert f"retirement due: v{champion.version} has been champion 91 days" in shown


def test_a_person_retrains_with_a_reason_a_window_and_parameters(platform, capsys):
    """``retrain --reason --window-months --param``: the run trains on what was asked, and the
    reason, window and parameters are in the MLflow run and the audit row."""
    settings = load_settings()
    land_month(platform.parent, settings.landing_dir, "2024-03")
    assert main(["ingest", "--month", "2024-03"]) == 0
    asked = ["retrain", "--reason", "new bureau feed", "--window-months", "2",
             "--param", "learning_rate=0.1", "--param", "max_iter=50"]  # fmt: skip
    assert main(asked) == 0
    client = Registry.for_settings(settings).client()
    v2 = client.get_model_version(settings.registered_model, "2")
    assert v2.tags["window"] == "2024-02,2024-03"
    run = client.get_run(v2.run_id).data
    assert (run.params["learning_rate"], run.params["max_iter"]) == ("0.1", "50")
    assert run.tags["reason"] == "new bureau feed"
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        (reasons,) = con.execute(
            "SELECT reasons FROM audit.promotions WHERE version = 2"
        ).fetchone()
    assert json.loads(reasons)[0] == (
        "requested: new bureau feed; window 2 month(s) 2024-02..2024-03; parameters: "
        "learning_rate=0.1 (default 0.05), max_iter=50 (default 200)"
    )


@pytest.mark.parametrize(
    ("param", "message"),
    [("depth=3", "name one of learning_rate"), ("max_iter=many", "max_iter takes int values"),
     ("seed=1", "name one of"), ("learning_rate", "expected name=value")],
)  # fmt: skip
def test_a_bad_parameter_is_refused_before_any_run(param, message, capsys):
    assert main(["retrain", "--param", param]) == 2
    assert message in capsys.readouterr().err


def test_a_degraded_champion_with_a_better_earlier_version_is_rolled_back(platform):
    """v2 learnt nothing (no split can hold 300 of its ~440 training rows) and was made champion
    by hand; the review scores v1 and v2 on 2024-02 (out-of-time for both) and v1 comes back
    through the journal. Reviewed again, v1 has nothing earlier: it stays, tagged degraded."""
    settings = load_settings()
    weak = ["retrain", "--reason", "a model that learns nothing", "--param", "max_iter=1",
            "--param", "min_samples_leaf=300"]  # fmt: skip
    assert main(weak) == 0
    assert main(["promote", "--version", "2", "--reason", "made champion for the test"]) == 0
    job = build_definitions(settings).resolve_job_def("degradation_review_job")
    config = {"ops": {"review_degraded_champion": {"config": {"months": ["2024-02"]}}}}
    with dg.DagsterInstance.get() as instance:
        assert job.execute_in_process(run_config=config, instance=instance).success
        client = Registry.for_settings(settings).client()
        champion = client.get_model_version_by_alias(settings.registered_model, "champion")
        assert int(champion.version) == 1
        v2 = client.get_model_version(settings.registered_model, "2").tags
        assert (v2["archived"], v2["degraded"]) == ("true", "2024-02")
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            last = con.execute(
                "SELECT version, decision, trigger, reasons, previous_champion "
                "FROM audit.promotions ORDER BY decided_at DESC LIMIT 1"
            ).fetchone()
        version, decision, trigger, reasons, previous = last
        assert (version, decision, trigger, previous) == (1, "rolled_back", "degradation", 2)
        assert json.loads(reasons)[0].startswith("rollback (degradation): champion v2 degraded")
        assert "v1: AUC" in json.loads(reasons)[1] and "better with evidence" in reasons
        (rollback,) = _alerts(settings.data_dir, "degradation_rollback")
        assert (rollback["champion_before"], rollback["champion_after"]) == (2, 1)

        assert job.execute_in_process(run_config=config, instance=instance).success
    (kept,) = _alerts(settings.data_dir, "degraded_champion_kept")
    assert kept["champion_after"] == 1 and "a person should act" in kept["action"]
    v1 = client.get_model_version(settings.registered_model, "1").tags
    assert v1["degraded"] == "2024-02" and "archived" not in v1


def test_a_real_drift_report_verdict_reaches_the_alert_once(platform):
    """platform_base's drift report of 2024-02 (a real run) against the real instance: the
    sensor alerts the month exactly when the asset judged it degraded, with its reasons."""
    settings = load_settings()
    verdict = json.loads((settings.reports_dir / "drift" / "2024-02" / "drift.json").read_text())
    judged = verdict["performance"]
    assert judged is not None  # every outcome of 2024-02 is in: the rule judged it
    cursor = None
    with dg.DagsterInstance.get() as instance:
        for _ in range(2):  # two ticks, one alert at most
            resources = platform_resources(settings)
            context = tick_context(drift_retrain_sensor, instance, resources, cursor=cursor)
            cursor = drift_retrain_sensor.evaluate_tick(context).cursor
    alerts = _alerts(settings.data_dir, "performance_degraded")
    assert len(alerts) == int(judged["degraded"])
    for alert in alerts:
        assert (alert["month"], alert["reasons"]) == ("2024-02", judged["reasons"])
