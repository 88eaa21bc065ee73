"""Runs whose process died are failed, so they stop holding queue places and pool slots.

With the default run launcher Dagster's run monitoring cannot ask whether a run worker is
alive (it only times out runs stuck STARTING), and a run executed in process by the CLI has
no launcher at all. Every Dagster event records the pid of the process that wrote it; a run
still STARTED whose process no longer exists (or whose pid now belongs to a younger process)
is marked failed here, and its concurrency slots are freed. ``dead_run_sensor`` does this
under the daemon; every ``creditplatform`` command does it before it starts work.
"""

from __future__ import annotations

import dagster as dg
from dagster._core.launcher import DefaultRunLauncher

from creditplatform.processes import process_alive

_UNFINISHED = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def _worker(instance: dg.DagsterInstance, run_id: str) -> int | None:
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.RUN_START, limit=1
    ).records
    event = records[0].event_log_entry.dagster_event if records else None
    return event.pid if event else None


def reap_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail every unfinished run whose worker process is gone; return their run ids."""
    if not isinstance(instance.run_launcher, DefaultRunLauncher):
        return []  # remote workers: Dagster's own run monitoring checks their health
    reaped = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=_UNFINISHED)):
        run = record.dagster_run
        pid = _worker(instance, run.run_id)
        if pid is None or process_alive(pid, record.start_time):
            continue
        instance.report_run_failed(
            run, f"run worker process {pid} is gone (killed or crashed); marked failed"
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        reaped.append(run.run_id)
    return reaped


@dg.sensor(
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks failed the runs whose worker process died (kill -9, OOM), frees their "
    "pool slots, so they block no later run; the landing sensor then retries the month.",
)
def dead_run_sensor(context: dg.SensorEvaluationContext):
    reaped = reap_dead_runs(context.instance)
    return dg.SkipReason(
        f"failed {len(reaped)} dead run(s): {', '.join(r[:8] for r in reaped)}"
        if reaped
        else "every started run has a live process"
    )
