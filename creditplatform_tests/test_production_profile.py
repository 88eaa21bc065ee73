"""The production profile on real components: a PostgreSQL server (Debian's package, a
throwaway cluster), Dagster's instance on dagster-postgres (deploy/production/dagster.yaml),
MLflow's tracking and registry stores on PostgreSQL, and the warehouse on DuckLake (PostgreSQL
catalog + Parquet files). The same CLI and SQL as the local profile, in real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import dagster as dg
import pytest
from dagster_postgres.run_storage import PostgresRunStorage
from mlflow.tracking import MlflowClient

from creditplatform.definitions import build_definitions
from creditplatform.settings import REPO_ROOT, Settings
from creditplatform.synthetic.generate import GenerateOptions, generate_history
from creditplatform.warehouse.landing import land_month


def _cli(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "creditplatform.cli", *args],
        env=env or dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO_ROOT,
    )


def _ok(*args: str) -> str:
    proc = _cli(*args)
    output = proc.communicate()[0]
    assert proc.returncode == 0, output[-4000:]
    return output


def _counts(settings: Settings, sql: str) -> list[tuple]:
    with settings.warehouse.connect(read_only=True) as con:
        return con.execute(sql).fetchall()


def test_ingest_and_reingest_on_the_lake_with_dagster_on_postgres(
    production: Settings, tmp_path: Path
):
    """One month through the CLI: Dagster's run is in PostgreSQL, the rows are in the lake
    (Parquet under the lake path, none in a DuckDB file), and a second delivery of the month
    replaces its rows instead of adding to them."""
    source = tmp_path / "source"
    generate_history(source, GenerateOptions(months=2, applications_per_month=500, seed=2))
    for month in ("2024-01", "2024-01", "2024-02"):
        land_month(source / "landing", production.landing_dir, month)
        _ok("ingest", "--month", month)
    by_month = "SELECT month, count(*) FROM {} GROUP BY 1 ORDER BY 1"
    expected = [("2024-01", 500), ("2024-02", 500)]
    assert _counts(production, by_month.format("raw.application")) == expected
    assert _counts(production, by_month.format("features.feature_store")) == expected
    assert not production.warehouse_path.exists()
    assert list(Path(production.warehouse.lake_data_path).rglob("*.parquet"))
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert instance.run_storage.postgres_url.startswith("postgresql+psycopg2://")
        runs = instance.get_runs()
    assert len(runs) == 3 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    # The daily housekeeping job (production only) merges each insert's small files and, with
    # no retention, expires the snapshots of the replaced delivery and deletes its files.
    production = replace(production, lake_snapshot_retention_days=0.0)
    defs = build_definitions(production)
    with dg.DagsterInstance.get() as instance:
        result = defs.resolve_job_def("lake_maintenance_job").execute_in_process(instance=instance)
    assert result.success
    (output,) = [e for e in result.all_node_events if e.is_successful_output]
    done = output.step_output_data.metadata
    assert done["data_files_after"].value < done["data_files_before"].value
    assert done["snapshots_expired"].value > 0 and done["files_deleted"].value > 0
    assert _counts(production, by_month.format("raw.application")) == expected


@pytest.mark.slow
def test_two_ingests_and_a_scoring_run_at_once_all_succeed(
    production: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Three writers on the lake at the same moment (the pool raised to 3 so none waits):
    two monthly ingests and a scoring run, each its own process, none fails on a lock."""
    monkeypatch.setenv("CREDITPLATFORM_MIN_TRAINING_MONTHS", "2")
    source = tmp_path / "source"
    generate_history(source, GenerateOptions(months=5, applications_per_month=1500, seed=4))
    for month in ("2024-01", "2024-02", "2024-03"):
        land_month(source / "landing", production.landing_dir, month)
    _ok("ingest")
    # Three small months do not beat the logistic baseline (a fixed seed: rejected every time),
    # so a person makes v1 champion: the manual promotion, audited, on the production profile.
    assert "model v1 rejected" in _ok("retrain")
    _ok("promote", "--version", "1", "--reason", "a champion to score with")
    for month in ("2024-04", "2024-05"):
        land_month(source / "landing", production.landing_dir, month)
    with dg.DagsterInstance.get() as instance:
        instance.event_log_storage.set_concurrency_slots("warehouse", 3)
    procs = [
        _cli("ingest", "--month", "2024-04"),
        _cli("ingest", "--month", "2024-05"),
        _cli("score", "--month", "2024-03"),
    ]
    outputs = [p.communicate()[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[-3000:] for o in outputs]
    assert not any("lock" in o.lower() and "error" in o.lower() for o in outputs)
    applications = _counts(
        production, "SELECT month, count(*) FROM raw.application GROUP BY 1 ORDER BY 1"
    )
    assert applications == [(f"2024-0{m}", 1500) for m in range(1, 6)]
    features = _counts(
        production, "SELECT month, count(*) FROM features.feature_store GROUP BY 1 ORDER BY 1"
    )
    assert features == applications
    assert _counts(production, "SELECT count(*) FROM scores.batch_scores") == [(1500,)]


@pytest.mark.slow
def test_closed_loop_on_postgres_and_ducklake(production: Settings):
    """`creditplatform demo` (months land, sensors and automation act, drift retrains) on the
    production profile: the first model, a drift-triggered promotion, every month scored and
    drift-checked, all decisions audited in the lake and versions registered in PostgreSQL."""
    env = {**os.environ, "CREDITPLATFORM_MIN_TRAINING_MONTHS": "4"}
    proc = _cli(
        "demo", "--scenario", "income_shift", "--months", "8",
        "--applications-per-month", "2500", "--seed", "3", env=env,
    )  # fmt: skip
    output = proc.communicate()[0]
    assert proc.returncode == 0, output[-4000:]
    decisions = _counts(
        production, "SELECT decision, trigger FROM audit.promotions ORDER BY decided_at"
    )
    assert decisions[0] == ("promoted", "staleness")
    # The drift retrain passes its gates as challenger; a month later its canary promotes it
    # (or holds it and the demo's risk officer approves it by hand).
    staged = decisions.index(("challenger", "drift"))
    assert "promoted" in [decision for decision, _ in decisions[staged + 1 :]]
    months = _counts(
        production,
        "SELECT (SELECT count(DISTINCT month) FROM scores.batch_scores), "
        "(SELECT count(DISTINCT month) FROM monitoring.drift)",
    )
    assert months == [(8, 8)]
    client = MlflowClient(production.mlflow_tracking_uri, production.mlflow_tracking_uri)
    versions = client.search_model_versions(f"name = '{production.registered_model}'")
    promoted = {int(v.version) for v in versions if v.tags.get("champion_since")}
    assert len(versions) >= 2 and promoted
    assert all(v.tags["artifact_sha256"] for v in versions)
    # MLflow wrote its artifacts where the profile says, not into ./mlruns.
    assert list(production.mlflow_artifacts.rglob("MLmodel"))
    assert not (REPO_ROOT / "mlruns").exists()


def test_a_pool_limit_initialised_elsewhere_is_brought_to_the_default(production: Settings):
    """Dagster's own initialisation, on PostgreSQL, INSERTs the pool's row and on a duplicate
    UPDATEs inside the aborted transaction: the run that loses the race (or finds the row with
    an old default) fails. Ours takes the row another process wrote and sets the default."""
    from dagster._core.storage.event_log.schema import ConcurrencyLimitsTable

    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        assert storage.initialize_concurrency_limit_to_default("warehouse")
        with storage.index_transaction() as conn:  # as another process with another default
            conn.execute(ConcurrencyLimitsTable.update().values(limit=1))
        assert storage.initialize_concurrency_limit_to_default("warehouse")
        info = storage.get_concurrency_info("warehouse")
    assert info.slot_count == instance.global_op_concurrency_default_limit == 2
