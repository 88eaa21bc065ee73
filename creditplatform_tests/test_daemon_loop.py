"""The closed loop under the real daemon: ``dagster dev`` (webserver + daemon) on a temp
instance, months dropped into ``landing/`` one at a time with ``creditplatform land``, and no
launches by the test. It observes: every month ingested by ``landing_sensor``; the first model
trained by ``staleness_sensor`` within a minute or two of the month that completes its
history; drift reports and scores for every month by declarative automation; no drift retrain
on the stable months; a drift retrain (gated, audited) once drifted months land, staged as
challenger; the drift check's warning alerted by ``check_failure_alert_sensor`` on the default
SQLite storage; then one more month, shadow-scored by the challenger, and the canary
(``canary_sensor`` → ``champion_rollout``) promoting or holding it on those applicants.

The timeline it prints (pytest -s) is the one quoted in README "Watching the loop".
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from creditplatform.definitions import build_definitions
from creditplatform.sensor_state import WORKSPACE, InstanceSensorState
from creditplatform.settings import REPO_ROOT, load_settings
from creditplatform.synthetic.generate import GenerateOptions, generate_history
from creditplatform_tests.dagster_dev import dagster_dev, ticks_since

MONTHS = [f"2024-0{m}" for m in range(1, 10)]
# income_shift from 2024-06; the last month lands once the drift retrain is the challenger.
STABLE, DRIFTED, SHADOWED = MONTHS[:5], MONTHS[5:8], MONTHS[8]
# Generous bounds for a slow, loaded 2-core machine; the loop normally needs a few minutes.
PHASE_SECONDS = 1500


def _wait(what: str, condition, log: Path, started: float) -> float:
    deadline = time.monotonic() + PHASE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            tail = log.read_text()[-4000:] if log.exists() else ""
            pytest.fail(f"timed out waiting for {what}\n--- dagster dev log ---\n{tail}")
        time.sleep(3)
    seconds = time.monotonic() - started
    print(f"  +{seconds:6.0f}s  {what}", flush=True)
    return seconds


def _land(env: dict, source: Path, months: list[str]) -> None:
    args = [a for m in months for a in ("--month", m)]
    subprocess.run(
        [sys.executable, "-m", "creditplatform.cli", "land", "--source", str(source),
         "--interval", "5", *args],
        env=env, check=True, capture_output=True,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.long
def test_closed_loop_under_the_real_daemon(_isolated_data_dir: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("CREDITPLATFORM_MIN_TRAINING_MONTHS", "4")
    monkeypatch.setenv("DAGSTER_HOME", str(REPO_ROOT))
    incoming = tmp_path / "incoming"
    generate_history(incoming, GenerateOptions(
        months=len(MONTHS), applications_per_month=4000, seed=3, drift_scenario="income_shift",
        drift_from=DRIFTED[0],
    ))  # fmt: skip
    env = {**os.environ}
    settings = load_settings()
    log = tmp_path / "dagster_dev.log"

    def partitions(key: str) -> set[str]:
        with dg.DagsterInstance.get() as instance:
            return set(instance.get_materialized_partitions(dg.AssetKey.from_user_string(key)))

    def runs(trigger: str) -> list[dg.DagsterRun]:
        with dg.DagsterInstance.get() as instance:
            return list(instance.get_runs(dg.RunsFilter(tags={"creditplatform/trigger": trigger})))

    def query(sql: str) -> list[tuple]:
        if not settings.warehouse_path.exists():
            return []
        try:
            with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
                return con.execute(sql).fetchall()
        except (duckdb.IOException, duckdb.CatalogException):
            return []  # a run holds the file, or the table is not there yet

    def decisions(trigger: str) -> list[tuple[int, str]]:
        return [(v, d) for v, d, t in query(
            "SELECT version, decision, trigger FROM audit.promotions ORDER BY decided_at"
        ) if t == trigger]  # fmt: skip

    def audited(trigger: str) -> bool:
        return bool(decisions(trigger))

    def alerts_text() -> str:
        alerts = settings.reports_dir / "alerts.jsonl"
        return alerts.read_text() if alerts.exists() else ""

    instance = dg.DagsterInstance.get()
    sensors = InstanceSensorState(instance, build_definitions(settings), WORKSPACE)
    with dagster_dev(env, log), instance:
        started = time.monotonic()
        print("\ndaemon timeline (seconds since the first month was dropped):", flush=True)
        _land(env, incoming / "landing", STABLE)
        _wait("stable months 2024-01..05 ingested",
              lambda: set(STABLE) <= partitions("raw/application"), log, started)  # fmt: skip
        _wait("first model trained and audited (trigger=staleness)",
              lambda: audited("staleness"), log, started)  # fmt: skip
        _wait("drift reports and scores for every stable month",
              lambda: set(STABLE) <= partitions("drift_report") & partitions("batch_scores"),
              log, started)  # fmt: skip
        # Two drift_retrain_sensor ticks after the last stable report: nothing fires.
        reported = time.time()
        _wait("two drift_retrain_sensor ticks after the last stable report",
              lambda: len(ticks_since(sensors, "drift_retrain_sensor", reported)) >= 2,
              log, started)  # fmt: skip
        assert runs("drift") == [], "a stable history must not retrain for drift"

        _land(env, incoming / "landing", DRIFTED)
        _wait("drifted months 2024-06..08 ingested",
              lambda: set(DRIFTED) <= partitions("raw/application"), log, started)  # fmt: skip
        _wait("drift retrain requested by drift_retrain_sensor",
              lambda: bool(runs("drift")), log, started)  # fmt: skip
        _wait("drift retrain gated and audited (trigger=drift)",
              lambda: audited("drift"), log, started)  # fmt: skip
        # The WARN check, alerted under the daemon. A run-status sensor handles at most 5 runs a
        # tick (Dagster's default), so after a burst of runs the alert can trail the retrain.
        _wait("drift_within_limits warning alerted by check_failure_alert_sensor",
              lambda: '"check": "drift_within_limits"' in alerts_text(), log, started)  # fmt: skip
        (staged, first), *_ = decisions("drift")
        assert first == "challenger", decisions("drift")  # a champion exists: it shadows first

        _land(env, incoming / "landing", [SHADOWED])
        _wait(f"{SHADOWED} shadow-scored by challenger v{staged}",
              lambda: query(f"SELECT 1 FROM scores.shadow_scores WHERE month = '{SHADOWED}' "
                            f"AND model_version = {staged} LIMIT 1"), log, started)  # fmt: skip
        _wait(f"canary decided on v{staged} (promoted or held)",
              lambda: {(staged, "promoted"), (staged, "held")} & set(decisions("drift")),
              log, started)  # fmt: skip

    drift_runs = runs("drift")
    assert drift_runs[0].tags["creditplatform/month"] in DRIFTED
    assert runs("canary"), "the canary ran under canary_sensor"
    # Promoted → v{staged} is champion; held → the champion stays, and the hold is alerted.
    ((_, verdict),) = [d for d in decisions("drift")[1:] if d[0] == staged]
    if verdict == "held":
        assert '"kind": "challenger_held"' in alerts_text()
    with dg.DagsterInstance.get() as instance:
        statuses = {r.status for r in instance.get_runs()}
    assert dg.DagsterRunStatus.STARTED not in statuses
