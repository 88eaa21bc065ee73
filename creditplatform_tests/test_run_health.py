"""Dead runs are failed from the pid Dagster recorded, on the repo's real instance config."""

from __future__ import annotations

import os
import subprocess
import time

import dagster as dg
from dagster._core.events import DagsterEvent, DagsterEventType

from creditplatform.defs.run_health import dead_run_sensor
from creditplatform.processes import process_alive
from creditplatform.settings import REPO_ROOT


def _started_run(instance: dg.DagsterInstance, pid: int) -> str:
    run = instance.create_run_for_job(dg.GraphDefinition("g").to_job(), run_id=None)
    instance.report_dagster_event(
        DagsterEvent(DagsterEventType.RUN_START.value, job_name=run.job_name, pid=pid),
        run_id=run.run_id,
    )
    return run.run_id


def test_dead_run_sensor_fails_runs_whose_process_is_gone():
    gone = subprocess.Popen(["true"])
    gone.wait()
    with dg.DagsterInstance.from_config(str(REPO_ROOT)) as instance:
        dead = _started_run(instance, gone.pid)
        alive = _started_run(instance, os.getpid())
        result = dead_run_sensor(dg.build_sensor_context(instance=instance))
        assert dead[:8] in result.skip_message
        assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(alive).status == dg.DagsterRunStatus.STARTED
        result = dead_run_sensor(dg.build_sensor_context(instance=instance))
        assert "every started run has a live process" in result.skip_message


def test_a_reused_pid_does_not_keep_a_dead_run_alive():
    assert process_alive(os.getpid())
    assert process_alive(os.getpid(), owned_since=time.time())
    # A process cannot own a run that started before the process existed (a reused pid).
    assert not process_alive(os.getpid(), owned_since=time.time() - 10 * 365 * 86400)
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert not process_alive(gone.pid)


def test_a_cli_run_says_which_run_holds_the_warehouse():
    from creditplatform.pipeline import pool_holders

    with dg.DagsterInstance.from_config(str(REPO_ROOT)) as instance:
        assert pool_holders(instance) == []
        instance.event_log_storage.set_concurrency_slots("warehouse", 1)
        claim = instance.event_log_storage.claim_concurrency_slot(
            "warehouse", "abcdef12-run", "raw_tables"
        )
        assert claim.is_claimed
        assert pool_holders(instance) == ["run abcdef12 (raw_tables)"]
        instance.event_log_storage.free_concurrency_slots_for_run("abcdef12-run")
        assert pool_holders(instance) == []
