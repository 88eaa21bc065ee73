"""Instance configuration and the status report."""

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from creditplatform.cli import main
from creditplatform.definitions import defs
from creditplatform.ml.registry import Registry
from creditplatform.settings import REPO_ROOT, load_settings
from creditplatform.status import render, status
from creditplatform.warehouse.audit import AuditRecord, append
from creditplatform.warehouse.monitoring import record_drift
from creditplatform_tests.conftest import point_at


def test_instance_needs_no_variable_of_ours(tmp_path, monkeypatch):
    """dagster.yaml loads with no CREDITPLATFORM_* variable: storage follows the data dir."""
    monkeypatch.delenv("CREDITPLATFORM_DAGSTER_STORAGE")
    monkeypatch.delenv("CREDITPLATFORM_DATA_DIR")
    with dg.DagsterInstance.from_config(str(REPO_ROOT)) as instance:
        assert instance.root_directory == str(REPO_ROOT / "data" / "dagster")
        assert instance.run_launcher is not None
    config = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    assert config["telemetry"]["enabled"] is False
    assert config["run_monitoring"]["enabled"] is True


def test_instance_storage_follows_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CREDITPLATFORM_DAGSTER_STORAGE", str(tmp_path / "dagster"))
    with dg.DagsterInstance.from_config(str(REPO_ROOT)) as instance:
        assert str(tmp_path / "dagster") in instance.root_directory
        assert instance.compute_log_manager._base_dir.startswith(str(tmp_path / "dagster"))


def test_status_reports_decisions_and_months(tmp_path):
    settings = load_settings()
    settings.data_dir.mkdir(parents=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("CREATE SCHEMA raw")
        con.execute("CREATE TABLE raw.ingestions (month VARCHAR)")
        con.execute("INSERT INTO raw.ingestions VALUES ('2024-01'), ('2024-02')")
        now = datetime.now(UTC)
        append(con, AuditRecord(now - timedelta(hours=1), 1, "rejected", "drift",
                                ["ROC-AUC 0.70 <= logistic baseline 0.71"], {}, "run", "sha",
                                None, None))  # fmt: skip
        record_drift(con, {
            "month": "2024-02", "computed_at": now, "champion_version": 1, "max_psi": 0.41,
            "max_psi_feature": "AMT_INCOME_TOTAL", "drifted_features": '["AMT_INCOME_TOTAL"]',
            "prediction_ks_pvalue": 0.001, "new_labelled_rows": 900, "month_auc": 0.8,
            "auc_relative_drop": 0.01, "retrain_evidence": "{}",
        })  # fmt: skip
    registry = Registry.for_settings(settings)  # a real, empty MLflow
    report = status(settings, registry, drift_retrain_months={"2024-02"})
    assert report["champion"] is None
    assert report["decisions"][0]["decision"] == "rejected"
    assert report["decisions"][0]["reasons"] == ["ROC-AUC 0.70 <= logistic baseline 0.71"]
    assert report["freshness"]["latest_ingested_month"] == "2024-02"
    assert report["drift"][0]["max_psi"] == 0.41 and report["drift"][0]["retrain_requested"]
    assert report["freshness"]["model_overdue"] is True
    text = render(report)
    assert "champion: none yet" in text and "v1 rejected (drift" in text
    assert "drift 2024-02: max PSI 0.410 (drifted: AMT_INCOME_TOTAL) -> retrain requested" in text


def test_runs_execute_in_one_process():
    """Steps of a run share the warehouse file; DuckDB lets one process at a time write to it."""
    for job in ("ingest_job", "retrain_job", "score_job"):
        assert defs.resolve_job_def(job).executor_def is dg.in_process_executor


def test_loading_the_code_location_does_not_import_the_ml_stack():
    """Every run worker, the UI and the daemon load the code location; MLflow, scikit-learn and
    Evidently (~5 s of imports) load only in the steps that use them."""
    probe = (
        "import sys, creditplatform.definitions; "
        "print(sorted(m for m in ('mlflow', 'sklearn', 'evidently', 'matplotlib') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_run_logs_and_the_cli_speak_json_lines(
    small_history: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    """Every asset's context.log line lands in <data dir>/logs/runs.jsonl with its run id,
    step and partition (dagster.yaml's python_logs); with CREDITPLATFORM_LOG_FORMAT=json the
    CLI's own lines are JSON objects too, each run line naming its run id."""

    data = tmp_path / "data"
    shutil.copytree(small_history / "landing", data / "landing")
    point_at(monkeypatch, data)
    monkeypatch.setenv("CREDITPLATFORM_LOG_FORMAT", "json")
    assert main(["ingest", "--month", "2024-01"]) == 0
    cli = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    (run,) = [line for line in cli if line.get("event") == "run"]
    assert (run["job"], run["partition"], run["outcome"]) == ("ingest_job", "2024-01", "ok")
    logged = [json.loads(line) for line in (data / "logs" / "runs.jsonl").read_text().splitlines()]
    ingest = [line for line in logged if line["run_id"] == run["run_id"]]
    assert ingest and all(line["partition"] == "2024-01" for line in ingest)
    assert any(line["message"].startswith("month 2024-01 published: {") for line in ingest)
    assert {"ts", "level", "job", "step"} <= set(ingest[0])


def test_a_log_line_carrying_dagster_records_is_still_one_json_line():
    """Dagster attaches its event records to a failed step's log line; they become text."""
    import logging

    from creditplatform.logs import JsonFormatter

    record = logging.makeLogRecord({"msg": "step failed", "levelname": "ERROR"})
    record.dagster_event = dg.MetadataValue.text("a record, not a tuple")
    record.month = "2024-03"
    line = json.loads(JsonFormatter().format(record))
    assert line["month"] == "2024-03" and "a record, not a tuple" in line["dagster_event"]


def test_mlflow_store_follows_the_data_dir_after_a_registry_call(tmp_path, monkeypatch):
    """mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI; a registry call must not leave it
    behind, or every later load_settings() in the process (another data dir) would read the
    first store back as the user's choice."""
    import os

    monkeypatch.setenv("CREDITPLATFORM_DATA_DIR", str(tmp_path / "a"))
    assert Registry.for_settings(load_settings()).champion() is None  # a real MLflow call
    monkeypatch.setenv("CREDITPLATFORM_DATA_DIR", str(tmp_path / "b"))
    expected = f"sqlite:///{tmp_path / 'b' / 'mlflow' / 'mlflow.db'}"
    assert load_settings().mlflow_tracking_uri == expected
    assert "MLFLOW_TRACKING_URI" not in os.environ
    # A user's own choice survives the same call.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", expected)
    Registry.for_settings(load_settings()).champion()
    assert os.environ["MLFLOW_TRACKING_URI"] == expected


def test_every_setting_reaches_the_code_location_as_a_resource(monkeypatch):
    """One configuration path: each rule resource is built from Settings, so a variable set in
    the environment shows in the resource the assets and sensors receive."""
    from creditplatform.definitions import build_definitions, platform_resources

    monkeypatch.setenv("CREDITPLATFORM_DRIFT_PSI_THRESHOLD", "0.31")
    monkeypatch.setenv("CREDITPLATFORM_GATE_RELATIVE_TOLERANCE", "0.05")
    resources = platform_resources(load_settings())
    assert resources["drift_rules"].retrain_rules().psi_threshold == 0.31
    assert resources["promotion_gates"].gate_relative_tolerance == 0.05
    shown = build_definitions(load_settings()).get_repository_def().get_top_level_resources()
    assert set(resources) <= set(shown)  # the UI's resource page lists every one
    # Every Settings field but the data dir's own derived values is some resource's field.
    from dataclasses import fields

    from creditplatform.settings import Settings

    configurable = [r for r in resources.values() if isinstance(r, dg.ConfigurableResource)]
    resource_fields = {name for r in configurable for name in type(r).model_fields}
    process_only = {"start_month", "log_format", "mlflow_experiment", "registered_model",
                    "mlflow_ui_url", "dagster_ui_url"}  # fmt: skip
    serving = {f.name for f in fields(Settings) if f.name.startswith("serve_")}
    # The profile's connection settings reach resources combined: the lake's catalog string
    # and data path (Warehouse), the tracking URI, artifact root and lock database (MLflow).
    postgres = {f.name for f in fields(Settings) if f.name.startswith("postgres_")}
    combined = {"profile", "mlflow_artifact_root", *postgres}
    missing = {f.name for f in fields(Settings)} - resource_fields - process_only - serving
    missing -= combined
    assert missing == set(), f"settings no resource carries: {missing}"
