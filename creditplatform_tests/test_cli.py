"""The ``creditplatform`` command as a user runs it: a real subprocess on a temp data dir."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from creditplatform.settings import REPO_ROOT


def cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "creditplatform.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def cli_env(data: Path) -> dict:
    return {
        **os.environ,
        "CREDITPLATFORM_DATA_DIR": str(data),
        "CREDITPLATFORM_DAGSTER_STORAGE": str(data / "dagster"),
        "DAGSTER_HOME": str(REPO_ROOT),
    }


def test_generate_then_ingest_records_runs_in_the_instance(tmp_path):
    data = tmp_path / "data"
    env = cli_env(data)
    generated = cli(
        "generate", "--months", "2", "--applications-per-month", "300",
        "--drift-scenario", "product_mix", "--unlabelled-months", "1", env=env,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    assert "[2/2] 2024-02" in generated.stderr and "applications/s" in generated.stderr
    truth = json.loads((data / "truth" / "drift_scenario.json").read_text())
    assert truth["name"] == "product_mix" and truth["drift_from"] == "2024-02"
    assert pd.read_csv(data / "landing" / "2024-02" / "application.csv")["TARGET"].isna().all()

    ingested = cli("ingest", env=env)
    assert ingested.returncode == 0, ingested.stderr
    assert "ingest 2024-01: ok" in ingested.stderr and "ingest 2024-02: ok" in ingested.stderr
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        months = con.execute("SELECT DISTINCT month FROM raw.application ORDER BY 1").fetchall()
    assert months == [("2024-01",), ("2024-02",)]
    with dg.DagsterInstance.from_config(str(REPO_ROOT)) as instance:
        runs = instance.get_runs()
    assert len(runs) == 2 and all(r.job_name == "ingest_job" for r in runs)


def test_bad_month_exits_non_zero_and_says_why(tmp_path):
    data = tmp_path / "data"
    env = cli_env(data)
    assert (
        cli("generate", "--months", "1", "--applications-per-month", "200", env=env).returncode == 0
    )
    (data / "landing" / "2024-01" / "_SUCCESS").unlink()
    result = cli("ingest", "--month", "2024-01", env=env)
    assert result.returncode == 1
    assert "2024-01" in result.stderr and "_SUCCESS" in result.stderr


def test_a_step_that_raised_is_told_by_its_own_error():
    """The CLI names the exception a step raised, not Dagster's wrapper around it."""
    import dagster as dg

    from creditplatform.pipeline import failure_messages

    @dg.op
    def publish_month():
        raise RuntimeError("TransactionContext Error: conflict on raw.bureau")

    @dg.job
    def one_step():
        publish_month()

    result = one_step.execute_in_process(raise_on_error=False)
    assert ("publish_month", "RuntimeError: TransactionContext Error: conflict on raw.bureau") in (
        failure_messages(result)
    )
