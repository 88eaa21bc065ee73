"""``creditplatform demo`` end to end: months land, sensors and automation act, drift retrains.

The real CLI in a subprocess, on the real Dagster instance configured by dagster.yaml (storage
in a temp data dir), real DuckDB, real MLflow and Evidently. Small sizes keep each story near a
minute and a half.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster._core.scheduler.instigation import TickStatus

from creditplatform.definitions import build_definitions
from creditplatform.sensor_state import WORKSPACE, InstanceSensorState
from creditplatform.settings import REPO_ROOT, load_settings
from creditplatform_tests.applicant_rows import applicant_rows_in, landed_applicants, text_files
from creditplatform_tests.dagster_dev import dagster_dev, ticks_since

SIZE = ["--applications-per-month", "4000", "--seed", "3"]


# Every sensor the daemon ticks after the demo; none may launch a run or fail a tick.
SENSORS = (
    "landing_sensor", "staleness_sensor", "drift_retrain_sensor", "automation_sensor",
    "dead_run_sensor", "run_failure_alert_sensor", "check_failure_alert_sensor",
)  # fmt: skip


def demo_env(data: Path) -> dict[str, str]:
    return {
        "CREDITPLATFORM_DATA_DIR": str(data),
        "CREDITPLATFORM_DAGSTER_STORAGE": str(data / "dagster"),
        "DAGSTER_HOME": str(REPO_ROOT),
        "CREDITPLATFORM_MIN_TRAINING_MONTHS": "4",
    }


def run_demo(data, scenario: str, months: int = 8) -> subprocess.CompletedProcess:
    env = {**os.environ, **demo_env(data)}
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
        [*command, "--months", str(months), *SIZE],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
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
    # Neither drift nor the performance rule acts on a stable history (nor any review).
    assert [d for d in decisions if d[2] in ("drift", "performance", "degradation")] == []
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        psi, reported = con.execute(
            "SELECT max(max_psi), count(DISTINCT month) FROM monitoring.drift"
        ).fetchone()
        judged = con.execute(  # every month's outcomes are in: the rule judged each of them
            "SELECT count(*) FROM monitoring.drift "
            "WHERE json_extract(retrain_evidence, '$.performance.degraded') IS NOT NULL"
        ).fetchone()[0]
        scored = con.execute("SELECT count(DISTINCT month) FROM scores.batch_scores").fetchone()[0]
    assert judged == reported
    assert psi < 0.1
    # Once a champion exists, automation back-fills every month's drift report and scores.
    assert reported == scored == 8
    assert "month    | runs | max PSI" in result.stderr  # the timeline is printed


@pytest.mark.slow
@pytest.mark.long
def test_income_shift_adapts_and_the_daemon_after_the_demo_launches_nothing(tmp_path, monkeypatch):
    """The drift story on the simulated clock, then ``make ui`` after ``make run``.

    Drift is caught in the first drifted month; retrains follow while it persists (the 24 h
    cooldown is simulated hours, so it does not outlast the replay) until a promoted champion
    has trained on a drifted month, which moves the drift reference: max PSI falls back under
    0.2. The timeline explains each drifted month. Then the real daemon, started on the demo's
    instance, ticks every sensor and finds nothing to do: the demo kept sensor cursors, run keys
    and the automation cursor in the instance."""
    data = tmp_path / "data"
    # 13 months: drift from the 9th, and the drift-trained model shadows a month before it decides.
    result = run_demo(data, "income_shift", months=13)
    assert result.returncode == 0, result.stderr[-3000:]
    first_drifted = json.loads((data / "truth" / "drift_scenario.json").read_text())["drift_from"]
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        psi = dict(con.execute("SELECT month, max_psi FROM monitoring.drift").fetchall())
        decisions = con.execute(
            "SELECT version, decision, trigger FROM audit.promotions ORDER BY decided_at"
        ).fetchall()
    assert all(p < 0.2 for m, p in psi.items() if m < first_drifted)  # no false alarm
    # A drift retrain passes its gates as challenger, shadows the champion for a month, then
    # becomes champion (the canary passes it, or holds it and the demo's risk officer approves).
    staged = next(v for v, decision, trigger in decisions if (decision, trigger) ==
                  ("challenger", "drift"))  # fmt: skip
    assert psi[first_drifted] >= 0.2 and (staged, "promoted") in [d[:2] for d in decisions]
    assert f"v{staged} challenger (drift)" in result.stderr
    last = max(psi)
    assert psi[last] < 0.2, psi  # adapted: the reference moved with the champion
    assert f"drift persists since {first_drifted}" in result.stderr
    assert "drifted months in the champion's reference: 1 of 1" in result.stderr
    # One clock: judged in the data's time, no month is overdue and none is missing.
    alerts = data / "reports" / "alerts.jsonl"
    lines = alerts.read_text().splitlines() if alerts.exists() else []
    assert not [a for a in lines if json.loads(a)["kind"] == "landing_overdue"]
    status = subprocess.run(
        [sys.executable, "-m", "creditplatform.cli", "status", "--json"],
        env={**os.environ, **demo_env(data)}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    report = json.loads(status.stdout)
    assert report["months"] == {"failed": {}, "missing": {}}
    assert report["freshness"]["expected_latest_month"] == last
    assert report["drift_episode"] is None  # adapted: the newest month is stable
    # Every version's artifacts and every drift page (Evidently's views on the drifted months)
    # hold no applicant's row.
    files = text_files(data / "mlflow" / "artifacts", data / "reports")
    assert applicant_rows_in(files, landed_applicants(data / "warehouse.duckdb")) == {}
    for name, value in demo_env(data).items():
        monkeypatch.setenv(name, value)
    env = {**os.environ, **demo_env(data)}
    with dg.DagsterInstance.get() as instance:
        state = InstanceSensorState(instance, build_definitions(load_settings()), WORKSPACE)
        before = {run.run_id for run in instance.get_runs()}
        started = time.time()
        with dagster_dev(env, tmp_path / "dagster_dev.log"):
            deadline = time.monotonic() + 900  # generous: a loaded 2-core machine
            # Two ticks each: the second sees whatever the first might have launched.
            while any(len(ticks_since(state, name, started)) < 2 for name in SENSORS):
                assert time.monotonic() < deadline, {
                    name: len(ticks_since(state, name, started)) for name in SENSORS
                }
                time.sleep(5)
        ticks = {name: ticks_since(state, name, started) for name in SENSORS}
        new = [run for run in instance.get_runs() if run.run_id not in before]
    assert [(run.job_name, run.tags) for run in new] == []
    failed = {n: [t.error for t in ts if t.status == TickStatus.FAILURE] for n, ts in ticks.items()}
    assert {n: e for n, e in failed.items() if e} == {}
