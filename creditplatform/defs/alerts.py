"""Alert sensors: every failed run, and every failed check of a run that succeeded, alerted once.

A failed blocking check fails its run, so it is named in that run's ``run_failure`` alert and not
alerted again; ``check_failure`` covers the checks that fail without failing the run (warnings
such as ``drift_within_limits``). Both are run-status sensors, which start from the moment they
are first turned on (a new deployment does not replay history) and keep their own cursor, so a
run is alerted once however many ticks see it.
"""

import dagster as dg

from creditplatform.defs.event_records import check_evaluations
from creditplatform.defs.resources import Alerts


def _failed_checks(instance: dg.DagsterInstance, run_id: str) -> list[dg.AssetCheckEvaluation]:
    """The asset check evaluations of one run that failed."""
    return [e for e in check_evaluations(instance, run_id) if not e.passed]


def _check_name(evaluation: dg.AssetCheckEvaluation) -> str:
    return f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every failed run (failed contracts included) goes to reports/alerts.jsonl and "
    "the configured webhook, once, naming the checks that failed in it.",
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext, alerts: Alerts):
    run = context.dagster_run
    failed = _failed_checks(context.instance, run.run_id)
    alerts.send(
        {
            "kind": "run_failure",
            "job": run.job_name,
            "run_id": run.run_id,
            "partition": run.tags.get("dagster/partition"),
            "message": context.failure_event.message,
            "failed_checks": [_check_name(e) for e in failed],
            "descriptions": [e.description for e in failed if e.description],
        },
    )


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="check_failure_alert_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every failed asset check of a run that succeeded (warnings such as "
    "drift_within_limits) goes to reports/alerts.jsonl and the webhook, once; failed checks of "
    "a failed run are in its run_failure alert. A new sensor starts from now: no replay.",
)
def check_failure_alert_sensor(context: dg.RunStatusSensorContext, alerts: Alerts):
    failed = _failed_checks(context.instance, context.dagster_run.run_id)
    for evaluation in failed:
        alerts.send(
            {
                "kind": "check_failure",
                "asset": evaluation.asset_key.to_user_string(),
                "check": evaluation.check_name,
                "severity": evaluation.severity.value,
                "description": evaluation.description,
                "run_id": context.dagster_run.run_id,
                "partition": context.dagster_run.tags.get("dagster/partition"),
            },
        )
    return dg.SkipReason(f"{len(failed)} check failure alert(s) sent")
