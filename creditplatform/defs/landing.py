"""``landing_sensor``: one ingest run per new complete month, again when its files change, and
again (bounded) when its last run failed or died for a reason other than its contracts."""

import json

import dagster as dg

from creditplatform.defs.event_records import check_evaluations
from creditplatform.defs.jobs import ingest_job
from creditplatform.defs.partitions import monthly_partitions
from creditplatform.defs.resources import Alerts, Freshness, PlatformPaths
from creditplatform.warehouse.landing import (
    ingest_retry,
    landing_inventory,
    month_checksum,
    month_fingerprint,
)

TRIGGER = "creditplatform/trigger"
LANDING_SHA = "creditplatform/landing_sha256"


def _last_ingest(instance: dg.DagsterInstance, month: str) -> tuple[bool, bool]:
    """(the month's latest ingest run failed, it failed on a contract check)."""
    runs = instance.get_runs(
        dg.RunsFilter(job_name=ingest_job.name, tags={"dagster/partition": month}), limit=1
    )
    if not runs or runs[0].status != dg.DagsterRunStatus.FAILURE:
        return False, False
    contract_failed = any(
        not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
        for e in check_evaluations(instance, runs[0].run_id)
    )
    return True, contract_failed


def _request(month: str, checksum: str, attempt: int) -> dg.RunRequest:
    suffix = f":retry{attempt}" if attempt else ""
    return dg.RunRequest(
        run_key=f"{month}:{checksum[:16]}{suffix}",
        partition_key=month,
        tags={LANDING_SHA: checksum, TRIGGER: "landing" if not attempt else "landing_retry"},
    )


@dg.sensor(
    job=ingest_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests ingest_job for each landing month with a _SUCCESS marker; a month "
    "whose files' SHA-256 changed is requested again; a month whose last run failed or died "
    "(not on its contracts) is retried a bounded number of times, then alerted.",
)
def landing_sensor(
    context: dg.SensorEvaluationContext, paths: PlatformPaths, freshness: Freshness, alerts: Alerts
):
    """The cursor keeps, per month, the file fingerprint, the checksum last requested and the
    retries made for that checksum, and which ignored folders (not a month, or outside the
    partitions) were already alerted, so each is alerted once and never stops a valid month.

    Hashing gigabytes every tick would be wasteful, so the SHA-256 is recomputed only when a
    file's size or modification time changed; an identical re-drop then requests nothing.
    """
    cursor: dict = json.loads(context.cursor) if context.cursor else {}
    inventory = landing_inventory(paths.landing_dir, set(monthly_partitions.get_partition_keys()))
    ignored = inventory.warning()
    if ignored:
        context.log.warning(ignored)
        alerted = cursor.setdefault("_ignored_alerted", [])
        fresh = [name for name in inventory.ignored if name not in alerted]
        if fresh:
            alerts.send({"kind": "landing_folder_ignored", "folders": fresh, "detail": ignored})
            alerted += fresh
    requests = []
    for month in inventory.months:
        folder = paths.landing_dir / month
        fingerprint = json.loads(json.dumps(month_fingerprint(folder)))
        previous = cursor.get(month, {})
        if previous.get("fingerprint") != fingerprint:
            checksum = month_checksum(folder)
            cursor[month] = {"fingerprint": fingerprint, "sha256": checksum}
            if previous.get("sha256") != checksum:
                requests.append(_request(month, checksum, 0))
                continue
        state = cursor[month]
        failed, contract_failed = _last_ingest(context.instance, month)
        retries = state.get("retries", 0)
        action = ingest_retry(failed, contract_failed, retries, freshness.ingest_max_retries)
        if action == "retry":
            state["retries"] = retries + 1
            requests.append(_request(month, state["sha256"], retries + 1))
        elif action == "give_up" and not state.get("gave_up"):
            state["gave_up"] = True
            alerts.send({"kind": "ingest_gave_up", "month": month, "retries": retries})
    context.update_cursor(json.dumps(cursor, sort_keys=True))
    if not requests:
        reason = "no new, changed or retryable complete month in the landing folder"
        return dg.SkipReason(f"{reason}; {ignored}" if ignored else reason)
    return requests
