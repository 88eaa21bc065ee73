"""The closing-the-loop sensors and automation, evaluated against a real Dagster instance.

Events are reported to the instance as real materialisations (the same records the assets
write), then the real sensor definitions are ticked with ``build_sensor_context``.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import dagster as dg
import duckdb
import pytest

from creditplatform.alerts import send_alert
from creditplatform.definitions import build_definitions, platform_resources
from creditplatform.defs.alerts import check_failure_alert_sensor, run_failure_alert_sensor
from creditplatform.defs.retrain_triggers import drift_retrain_sensor, staleness_sensor
from creditplatform.features.store import build_month
from creditplatform.months import expected_latest_month
from creditplatform.sensor_state import declared_resources, tick_context
from creditplatform.settings import load_settings

DRIFTED = {"max_psi": 0.9, "max_psi_feature": "AMT_INCOME_TOTAL", "prediction_ks_pvalue": 0.001,
           "new_labelled_rows": 4000, "auc_relative_drop": 0.0, "champion_version": 1}  # fmt: skip


def judged(degraded: bool) -> dict:
    """A matured month's performance verdict as the drift asset writes it."""
    reason = "AUC 0.7100 vs champion test AUC 0.7800: +9.0% relative drop"
    return {"performance_degraded": degraded, "performance_reasons": [reason]}


def report_drift(instance, month: str, **overrides) -> None:
    metadata = {**DRIFTED, **overrides}
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key="drift_report", partition=month, metadata=metadata)
    )


def staleness(instance, cursor=None):
    return tick(staleness_sensor, instance, cursor)


def tick(sensor, instance, cursor=None):
    """One tick with the resources the code location would give it (settings as set now)."""
    resources = platform_resources(load_settings())
    context = tick_context(sensor, instance, resources, cursor=cursor)
    data = sensor.evaluate_tick(context)
    return data.run_requests or [], data.skip_message, data.cursor


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def test_drift_fires_once_then_cooldown_and_dedupe(instance):
    report_drift(instance, "2025-01")
    requests, _, cursor = tick(drift_retrain_sensor, instance)
    assert len(requests) == 1
    assert requests[0].tags["creditplatform/trigger"] == "drift"
    assert requests[0].tags["creditplatform/month"] == "2025-01"
    first_key = requests[0].run_key

    again, skip, cursor = tick(drift_retrain_sensor, instance, cursor)
    assert again == [] and skip == "no new drift report"  # the same report is not acted on twice

    report_drift(instance, "2025-02")
    requests, skip, cursor = tick(drift_retrain_sensor, instance, cursor)
    assert requests == []
    assert "2025-02" in skip and "cooldown failed" in skip and "vs required >= 24 h" in skip
    assert first_key.startswith("drift:2025-01:")


@pytest.mark.parametrize(
    ("overrides", "condition", "text"),
    [
        ({"max_psi": 0.12}, "feature_psi", "max PSI 0.120"),
        ({"prediction_ks_pvalue": 0.4}, "prediction_drift", "p-value 0.4"),
        ({"new_labelled_rows": 10}, "new_labels", "10 new labelled rows"),
    ],
)
def test_each_failed_condition_is_the_skip_reason(instance, overrides, condition, text):
    report_drift(instance, "2025-03", **overrides)
    requests, skip, _ = tick(drift_retrain_sensor, instance)
    assert requests == []
    assert f"{condition} failed" in skip and text in skip
    assert skip.count("failed") == 1  # only the condition that failed is blamed


def _alerts(data_dir) -> list[dict]:
    path = data_dir / "reports" / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_degraded_months_in_a_row_retrain_and_each_is_alerted_once(instance, _isolated_data_dir):
    report_drift(instance, "2025-04", max_psi=0.05, **judged(True))
    requests, _, cursor = tick(drift_retrain_sensor, instance)
    assert requests == []  # one degraded month is not enough
    report_drift(instance, "2025-05", max_psi=0.05, **judged(True))
    requests, _, cursor = tick(drift_retrain_sensor, instance, cursor)
    assert [r.tags["creditplatform/trigger"] for r in requests] == ["performance"]
    again, _, cursor = tick(drift_retrain_sensor, instance, cursor)
    assert again == []
    degraded = [a for a in _alerts(_isolated_data_dir) if a["kind"] == "performance_degraded"]
    assert [a["month"] for a in degraded] == ["2025-04", "2025-05"]  # once each, not per tick
    assert degraded[0]["reasons"] == judged(True)["performance_reasons"]
    report_drift(instance, "2025-06", max_psi=0.05, **judged(False))
    requests, _, _ = tick(drift_retrain_sensor, instance, cursor)
    assert requests == []


def test_a_point_drop_without_a_degraded_verdict_does_nothing(instance, _isolated_data_dir):
    """The old rule retrained on two 4% point drops; the verdict now decides."""
    for month in ("2025-04", "2025-05"):
        report_drift(instance, month, max_psi=0.05, auc_relative_drop=0.04, **judged(False))
    requests, _, _ = tick(drift_retrain_sensor, instance)
    assert requests == [] and _alerts(_isolated_data_dir) == []


def test_a_new_champion_starts_its_own_count(instance, _isolated_data_dir):
    report_drift(instance, "2025-04", max_psi=0.05, **judged(True))
    report_drift(instance, "2025-05", max_psi=0.05, champion_version=2, **judged(True))
    requests, _, _ = tick(drift_retrain_sensor, instance)
    assert requests == []  # v1's degraded month does not count against v2


def test_sustained_degradation_is_reviewed_and_alerted_every_month_it_lasts(
    instance, _isolated_data_dir, monkeypatch
):
    monkeypatch.setenv("CREDITPLATFORM_DEGRADED_MONTHS", "3")
    monkeypatch.setenv("CREDITPLATFORM_PERFORMANCE_CONSECUTIVE_MONTHS", "9")  # no retrain first
    cursor, jobs = None, {}
    for month in ("2025-01", "2025-02", "2025-03", "2025-04"):
        report_drift(instance, month, max_psi=0.05, **judged(True))
        requests, _, cursor = tick(drift_retrain_sensor, instance, cursor)
        jobs[month] = [(r.job_name, r.run_config) for r in requests]
    review = "degradation_review_job"
    assert jobs["2025-01"] == jobs["2025-02"] == []
    assert jobs["2025-03"] == [(review, {"ops": {"review_degraded_champion": {
        "config": {"months": ["2025-01", "2025-02", "2025-03"]}}}})]  # fmt: skip
    assert jobs["2025-04"][0][1]["ops"]["review_degraded_champion"]["config"]["months"] == [
        "2025-02", "2025-03", "2025-04"]  # fmt: skip
    sustained = [a for a in _alerts(_isolated_data_dir) if a["kind"] == "sustained_degradation"]
    assert [a["month"] for a in sustained] == ["2025-03", "2025-04"]


def test_still_degraded_after_a_performance_retrain_is_reviewed(instance, monkeypatch):
    """The retrain did not replace the champion (rejected): the next degraded month of the
    same champion starts the review, without waiting for degraded_months."""
    monkeypatch.setenv("CREDITPLATFORM_DEGRADED_MONTHS", "6")
    cursor, names = None, []
    for month in ("2025-01", "2025-02", "2025-03"):
        report_drift(instance, month, max_psi=0.05, **judged(True))
        requests, _, cursor = tick(drift_retrain_sensor, instance, cursor)
        names.append([r.job_name for r in requests])
    assert names == [[], ["retrain_job"], ["degradation_review_job"]]


def _warehouse_with_matured_month(data_copy):
    with duckdb.connect(str(data_copy / "warehouse.duckdb")) as con:
        assert build_month(con, "2024-01").published


def test_staleness_requests_the_first_model_when_enough_months_matured(
    instance, data_copy, monkeypatch
):
    _warehouse_with_matured_month(data_copy)
    monkeypatch.setenv("CREDITPLATFORM_DATA_DIR", str(data_copy))
    monkeypatch.setenv("CREDITPLATFORM_MIN_TRAINING_MONTHS", "2")
    requests, skip, _ = staleness(instance)
    assert requests == [] and "only 1 matured month" in skip
    monkeypatch.setenv("CREDITPLATFORM_MIN_TRAINING_MONTHS", "1")
    requests, _, _ = staleness(instance)
    assert requests[0].tags["creditplatform/trigger"] == "staleness"
    assert requests[0].tags["creditplatform/reason"] == "no model yet"


def test_staleness_retrains_an_overdue_model_and_not_a_fresh_one(instance, data_copy, monkeypatch):
    _warehouse_with_matured_month(data_copy)
    monkeypatch.setenv("CREDITPLATFORM_DATA_DIR", str(data_copy))
    monkeypatch.setenv("CREDITPLATFORM_MIN_TRAINING_MONTHS", "1")
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="candidate_model"))
    requests, skip, _ = staleness(instance)
    assert requests == [] and "days old (limit 90)" in skip
    monkeypatch.setenv("CREDITPLATFORM_MODEL_MAX_AGE_DAYS", "0")
    requests, _, _ = staleness(instance)
    assert requests and "days old" in requests[0].tags["creditplatform/reason"]


def test_overdue_landing_month_is_an_alert_not_a_retrain(instance, data_copy, monkeypatch):
    monkeypatch.setenv("CREDITPLATFORM_DATA_DIR", str(data_copy))
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key=["raw", "application"], partition="2024-01")
    )
    requests, skip, cursor = staleness(instance)
    assert requests == [] and "landing overdue" in skip
    alerts = load_settings().reports_dir / "alerts.jsonl"
    lines = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert lines[-1]["kind"] == "landing_overdue" and lines[-1]["latest_month"] == "2024-01"
    staleness(instance, cursor)
    assert len(alerts.read_text().splitlines()) == len(lines)  # alerted once per overdue month


def test_expected_latest_month_respects_the_due_day():
    from datetime import UTC, datetime

    assert expected_latest_month(datetime(2026, 11, 4, tzinfo=UTC), due_day=5) == "2026-09"
    assert expected_latest_month(datetime(2026, 11, 5, tzinfo=UTC), due_day=5) == "2026-10"


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list] = []
    fail_first: ClassVar[int] = 0  # answer this many requests with 503 first

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Receiver.fail_first > 0:
            _Receiver.fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        _Receiver.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        return None


@pytest.fixture
def webhook():
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.received, _Receiver.fail_first = [], 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alerts", _Receiver.received
    server.shutdown()


def test_alert_goes_to_webhook_and_file(tmp_path, webhook):
    url, received = webhook
    _Receiver.fail_first = 1  # one 503, then delivered on the retry
    record = send_alert(tmp_path / "alerts.jsonl", url, {"kind": "test", "value": 1})
    assert record["webhook_status"] == 204 and record["webhook_attempts"] == 2
    assert received[0]["kind"] == "test" and received[0]["value"] == 1
    down = send_alert(tmp_path / "alerts.jsonl", "http://127.0.0.1:9/none", {"kind": "lost?"})
    assert "webhook_error" in down and down["webhook_attempts"] == 3
    secret = tmp_path / "secret.txt"
    secret.write_text("not for a webhook")
    local = send_alert(tmp_path / "alerts.jsonl", secret.as_uri(), {"kind": "file?"})
    assert "must be http(s), not file" in local["webhook_error"]  # urlopen never reads it
    assert len((tmp_path / "alerts.jsonl").read_text().splitlines()) == 3  # never lost


def test_failed_contract_alerts_once_with_its_checks(data_copy, webhook, monkeypatch):
    url, received = webhook
    monkeypatch.setenv("CREDITPLATFORM_DATA_DIR", str(data_copy))
    monkeypatch.setenv("CREDITPLATFORM_ALERT_WEBHOOK_URL", url)
    (data_copy / "landing" / "2024-01" / "bureau.csv").write_bytes(b"")
    resources = platform_resources(load_settings())
    with dg.instance_for_test() as instance:
        defs = build_definitions(load_settings())
        result = defs.resolve_job_def("ingest_job").execute_in_process(
            partition_key="2024-01", instance=instance, raise_on_error=False
        )
        assert not result.success
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alert_sensor", dagster_instance=instance,
            dagster_run=result.dagster_run, dagster_event=result.get_run_failure_event(),
            resources=declared_resources(run_failure_alert_sensor, resources),
        ).for_run_failure()  # fmt: skip
        run_failure_alert_sensor(context)
    assert len(received) == 1 and received[0]["kind"] == "run_failure"
    assert "raw/bureau:columns_and_types" in received[0]["failed_checks"]
    alerts = (data_copy / "reports" / "alerts.jsonl").read_text().splitlines()
    assert json.loads(alerts[-1])["failed_checks"] == received[0]["failed_checks"]


def test_failed_warning_check_of_a_successful_run_alerts(tmp_path, monkeypatch):
    monkeypatch.setenv("CREDITPLATFORM_DATA_DIR", str(tmp_path))

    @dg.asset(check_specs=[dg.AssetCheckSpec("within_limits", asset="watched")])
    def watched():
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(
            passed=False, severity=dg.AssetCheckSeverity.WARN, description="PSI 0.4 >= 0.2"
        )

    resources = platform_resources(load_settings())
    with dg.instance_for_test() as instance:
        result = dg.materialize([watched], instance=instance)
        assert result.success
        context = dg.build_run_status_sensor_context(
            sensor_name="check_failure_alert_sensor", dagster_instance=instance,
            dagster_run=result.dagster_run, dagster_event=result.get_run_success_event(),
            resources=declared_resources(check_failure_alert_sensor, resources),
        )  # fmt: skip
        skip = check_failure_alert_sensor(context)
    assert "1 check failure alert(s) sent" in str(skip)
    (line,) = (tmp_path / "reports" / "alerts.jsonl").read_text().splitlines()
    alert = json.loads(line)
    assert (alert["check"], alert["severity"]) == ("within_limits", "WARN")
