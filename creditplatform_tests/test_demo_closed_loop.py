"""``creditplatform demo`` end to end: months land, sensors and automation act, drift retrains.

The real CLI in a subprocess, on the real Dagster instance configured by dagster.yaml (storage
in a temp data dir), real DuckDB, real MLflow and Evidently. Small sizes keep each story near a
minute and a half.
"""

import json
import os
import subprocess
import sys

import duckdb
import pytest

from creditplatform.settings import REPO_ROOT

SIZE = ["--months", "8", "--applications-per-month", "4000", "--seed", "3"]


def run_demo(data, scenario: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "CREDITPLATFORM_DATA_DIR": str(data),
        "CREDITPLATFORM_DAGSTER_STORAGE": str(data / "dagster"),
        "DAGSTER_HOME": str(REPO_ROOT),
        "CREDITPLATFORM_MIN_TRAINING_MONTHS": "4",
    }
    command = [
        sys.executable,
        "-m",
        "creditplatform.cli",
        "demo",
        "--reset",
        "--scenario",
        scenario,
    ]
    return subprocess.run(
        [*command, *SIZE], env=env, capture_output=True, text=True, timeout=600, check=False
    )


def audit(data) -> list[tuple]:
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(
            "SELECT version, decision, trigger, reasons FROM audit.promotions ORDER BY decided_at"
        ).fetchall()


@pytest.mark.slow
def test_stable_history_never_retrains_for_drift(tmp_path):
    data = tmp_path / "data"
    result = run_demo(data, "none")
    assert result.returncode == 0, result.stderr[-3000:]
    decisions = audit(data)
    assert decisions[0][1:3] == ("promoted", "staleness")  # the first model, once 4 months matured
    assert [d for d in decisions if d[2] == "drift"] == []
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        psi, reported = con.execute(
            "SELECT max(max_psi), count(DISTINCT month) FROM monitoring.drift"
        ).fetchone()
        scored = con.execute("SELECT count(DISTINCT month) FROM scores.batch_scores").fetchone()[0]
    assert psi < 0.1
    # Once a champion exists, automation back-fills every month's drift report and scores.
    assert reported == scored == 8
    assert "month    | runs | max PSI" in result.stderr  # the timeline is printed


@pytest.mark.slow
def test_income_shift_triggers_exactly_one_drift_retrain_in_the_first_drifted_month(tmp_path):
    data = tmp_path / "data"
    result = run_demo(data, "income_shift")
    assert result.returncode == 0, result.stderr[-3000:]
    truth = json.loads((data / "truth" / "drift_scenario.json").read_text())
    first_drifted = truth["drift_from"]
    drift = [d for d in audit(data) if d[2] == "drift"]
    assert len(drift) == 1
    assert json.loads(drift[0][3])  # the gate decision and its reasons are recorded
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT month, max_psi, max_psi_feature FROM monitoring.drift ORDER BY month"
        ).fetchall()
        retrain_month = con.execute(
            "SELECT min(month) FROM monitoring.drift WHERE max_psi >= 0.2"
        ).fetchone()[0]
    assert retrain_month == first_drifted
    assert all(psi < 0.2 for month, psi, _ in rows if month < first_drifted)
    assert "v2" in result.stderr and "(drift)" in result.stderr
