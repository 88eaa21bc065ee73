"""kill -9 of real ``creditplatform`` processes at chosen moments, and readers during a write.

Each fault is hit on purpose: the process is started with ``CREDITPLATFORM_TEST_PAUSE_AT``
naming a pause point (``creditplatform/crashpoints.py``), the test waits until the process
says it is there, and sends SIGKILL. After each fault the registry, aliases, tags, audit
trail, Dagster runs and MLflow runs must agree, ``status`` must tell the truth, and the next
command must succeed. Everything is real: processes, the SQLite-backed Dagster instance from
the repo's dagster.yaml, MLflow, DuckDB.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from mlflow.tracking import MlflowClient

from creditplatform.sensor_state import tick_context
from creditplatform.settings import REPO_ROOT, load_settings
from creditplatform.synthetic.generate import GenerateOptions, generate_history
from creditplatform.warehouse.audit import history

MONTHS = ["2024-01", "2024-02", "2024-03", "2024-04"]
# Generous: the machine may be slow and loaded; a pause point is normally reached in seconds.
REACH_SECONDS = 900


def _env(extra: dict | None = None) -> dict:
    env = {**os.environ, "DAGSTER_HOME": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    env.pop("CREDITPLATFORM_TEST_PAUSE_AT", None)
    return {**env, **(extra or {})}


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "creditplatform.cli", *args],
        env=_env(), capture_output=True, text=True, cwd=REPO_ROOT,
    )  # fmt: skip
    if check:
        assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done


def kill_at(point: str, *args: str, tmp: Path) -> None:
    """Run ``creditplatform *args`` until it reaches ``point``, then SIGKILL it."""
    marker = tmp / f"paused-{point}-{time.monotonic_ns()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "creditplatform.cli", *args],
        env=_env({"CREDITPLATFORM_TEST_PAUSE_AT": point,
                  "CREDITPLATFORM_TEST_PAUSE_MARKER": str(marker)}),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO_ROOT,
    )  # fmt: skip
    deadline = time.monotonic() + REACH_SECONDS
    while not marker.exists():
        if proc.poll() is not None:
            pytest.fail(f"{args} ended before reaching {point}:\n{proc.stdout.read()}")
        assert time.monotonic() < deadline, f"{args} did not reach {point}"
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL


def status() -> dict:
    return json.loads(cli("status", "--json").stdout)


class Probe:
    """Reads every store the way a reviewer would, from outside the killed processes."""

    def __init__(self):
        self.settings = load_settings()
        uri = self.settings.mlflow_tracking_uri
        # Both URIs explicit: a client given only the tracking URI takes its registry URI from
        # MLflow's process-wide default, which an earlier test in this worker may have set.
        self.mlflow = MlflowClient(tracking_uri=uri, registry_uri=uri)
        self.model = self.settings.registered_model

    def alias(self, name: str) -> int | None:
        try:
            return int(self.mlflow.get_model_version_by_alias(self.model, name).version)
        except Exception:
            return None

    def versions(self) -> list:
        return self.mlflow.search_model_versions(f"name = '{self.model}'")

    def audit(self) -> list[dict]:
        with duckdb.connect(str(self.settings.warehouse_path)) as con:
            return history(con)

    def pending(self) -> int:
        with duckdb.connect(str(self.settings.warehouse_path)) as con:
            return con.execute(
                "SELECT count(*) FROM audit.promotion_journal WHERE state = 'pending'"
            ).fetchone()[0]

    def run_statuses(self) -> list[str]:
        with dg.DagsterInstance.get() as instance:
            return [r.status.value for r in instance.get_runs()]

    def mlflow_running(self) -> int:
        experiment = self.mlflow.get_experiment_by_name(self.settings.mlflow_experiment)
        if experiment is None:
            return 0
        runs = self.mlflow.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'")
        return len(runs)

    def raw_rows(self, month: str) -> int:
        with duckdb.connect(str(self.settings.warehouse_path)) as con:
            return con.execute(
                "SELECT count(*) FROM raw.application WHERE month = ?", [month]
            ).fetchone()[0]

    def consistent(self) -> None:
        """Aliases, tags and audit agree; nothing is half done."""
        champion = self.alias("champion")
        audit = self.audit()
        assert audit[-1]["champion_after"] == champion, audit[-1]
        assert self.pending() == 0
        for version in self.versions():
            assert version.tags.get("artifact_sha256"), f"v{version.version} has no hash"
            archived = version.tags.get("archived") == "true"
            assert not (archived and int(version.version) == champion)


@pytest.mark.slow
def test_kill_minus_nine_at_every_commit_point(_isolated_data_dir: Path, monkeypatch, tmp_path):
    monkeypatch.setenv("DAGSTER_HOME", str(REPO_ROOT))
    monkeypatch.setenv("CREDITPLATFORM_MIN_TRAINING_MONTHS", "3")
    generate_history(_isolated_data_dir, GenerateOptions(months=4, applications_per_month=5000,
                                                         seed=5))  # fmt: skip
    cli("ingest")
    probe = Probe()

    # 1. Mid-fit: the Dagster run stays STARTED and the MLflow run RUNNING until someone looks.
    kill_at("fit", "retrain", tmp=tmp_path)
    assert "STARTED" in probe.run_statuses() and probe.mlflow_running() == 1
    report = status()  # reaps the dead run, closes the orphaned MLflow run
    assert report["champion"] is None and report["warehouse"] == "ok"
    assert "STARTED" not in probe.run_statuses() and probe.mlflow_running() == 0

    # 2. During registration (artifact hashed, version not yet created): no version exists.
    kill_at("registration", "retrain", tmp=tmp_path)
    assert probe.versions() == []

    # 3. The next retrain succeeds: the first champion, audited.
    cli("retrain")
    assert probe.alias("champion") == 1
    probe.consistent()

    # 4. A second model passing its gates becomes challenger; the month's scores shadow it and
    # the canary promotes it. Killed after the canary journalled its decision but before the
    # champion alias moved, the attempt is failed and the challenger stays challenger; killed
    # between the alias switch and the journal update, the promotion stands.
    cli("retrain")
    assert probe.alias("champion") == 1 and probe.alias("challenger") == 2
    cli("score", "--month", "2024-04")
    kill_at("before_alias_switch", "rollout", tmp=tmp_path)
    assert probe.alias("champion") == 1 and probe.pending() == 1
    report = status()
    assert report["decisions"][-1]["decision"] == "failed"
    assert "before the champion alias switch" in report["decisions"][-1]["reasons"][-1]
    assert report["champion"]["version"] == 1 and report["challenger"]["version"] == 2
    probe.consistent()
    kill_at("after_alias_switch", "rollout", tmp=tmp_path)
    assert probe.alias("champion") == 2 and probe.pending() == 1
    assert [a["decision"] for a in probe.audit()] == ["promoted", "challenger", "failed"]
    report = status()
    assert report["champion"]["version"] == 2
    last = report["decisions"][-1]
    assert (last["version"], last["decision"]) == (2, "promoted")
    assert "the promotion stands" in last["reasons"][-1]
    probe.consistent()
    assert probe.mlflow.get_model_version(probe.model, "1").tags["archived"] == "true"

    # 5. A manual rollback killed after its switch; the next scoring run repairs it first.
    kill_at("after_alias_switch", "promote", "--version", "1", "--rollback",
            "--reason", "crash test rollback", tmp=tmp_path)  # fmt: skip
    cli("score", "--month", "2024-04")
    probe.consistent()
    assert probe.alias("champion") == 1
    assert probe.audit()[-1]["decision"] == "rolled_back"
    with duckdb.connect(str(probe.settings.warehouse_path)) as con:
        scored = con.execute("SELECT DISTINCT model_version FROM scores.batch_scores").fetchall()
    assert scored == [(1,)]

    # 6. During an ingest publish: readers keep working, the month is all-or-nothing.
    before = probe.raw_rows("2024-02")
    marker = tmp_path / "publish"
    writer = subprocess.Popen(
        [sys.executable, "-m", "creditplatform.cli", "ingest", "--month", "2024-02"],
        env=_env({"CREDITPLATFORM_TEST_PAUSE_AT": "ingest_publish",
                  "CREDITPLATFORM_TEST_PAUSE_MARKER": str(marker)}),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO_ROOT,
    )  # fmt: skip
    deadline = time.monotonic() + REACH_SECONDS
    while not marker.exists():
        assert writer.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    busy = status()  # exits 0 while the writer holds the file
    assert busy["warehouse"].startswith("busy") and busy["champion"]["version"] == 1
    from creditplatform.definitions import build_definitions

    defs = build_definitions(load_settings())
    with dg.DagsterInstance.get() as instance:
        sensor = defs.resolve_sensor_def("staleness_sensor")
        tick = sensor.evaluate_tick(
            tick_context(sensor, instance, defs.resources, definitions=defs)
        )
    assert not tick.run_requests  # no error, no request: the tick waits for the writer
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    assert probe.raw_rows("2024-02") == before
    cli("ingest", "--month", "2024-02")
    assert probe.raw_rows("2024-02") == before

    # 7. A crafted pickle where Dagster's default IO manager would look is never executed, and
    # registry_promotion re-materialised alone (plain dagster CLI, only DAGSTER_HOME and the
    # data dir set) refuses the stale evaluation: it compared v2 with v1, but v2 has since been
    # made champion by hand.
    cli("promote", "--version", "2", "--reason", "by hand, before a stale re-run")
    canary = tmp_path / "pickle-ran"
    crafted = probe.settings.dagster_storage_dir / "storage" / "evaluation_report"
    crafted.parent.mkdir(parents=True, exist_ok=True)

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {canary}",))

    crafted.write_bytes(pickle.dumps(Exploit()))
    plain_env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"),
                 "DAGSTER_HOME": str(REPO_ROOT),
                 "CREDITPLATFORM_DATA_DIR": str(probe.settings.data_dir)}  # fmt: skip
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "asset", "materialize",
         "-m", "creditplatform.definitions", "--select", "registry_promotion"],
        env=plain_env, capture_output=True, text=True, cwd=REPO_ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert not canary.exists()
    last = probe.audit()[-1]
    assert (last["decision"], last["champion_after"]) == ("rejected", 2)
    assert "stale evaluation" in json.loads(last["reasons"])[0]
    probe.consistent()
    assert "STARTED" not in probe.run_statuses() and probe.mlflow_running() == 0
