"""``landing_sensor``: one ingest run per new complete month, and again when its files change."""

import json

import dagster as dg

from creditplatform.defs.jobs import ingest_job
from creditplatform.defs.partitions import monthly_partitions
from creditplatform.defs.resources import PlatformPaths
from creditplatform.warehouse.landing import complete_months, month_checksum, month_fingerprint


@dg.sensor(
    job=ingest_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests ingest_job for each landing month with a _SUCCESS marker; a month "
    "whose files' SHA-256 changed is requested again.",
)
def landing_sensor(context: dg.SensorEvaluationContext, paths: PlatformPaths):
    """The cursor keeps, per month, the file fingerprint and the checksum last requested.

    Hashing gigabytes every tick would be wasteful, so the SHA-256 is recomputed only when a
    file's size or modification time changed; an identical re-drop then requests nothing.
    """
    cursor: dict[str, dict] = json.loads(context.cursor) if context.cursor else {}
    known = set(monthly_partitions.get_partition_keys())
    requests = []
    for month in complete_months(paths.landing_dir):
        if month not in known:
            context.log.warning(f"landing month {month} is outside the partitions; ignored")
            continue
        folder = paths.landing_dir / month
        fingerprint = json.loads(json.dumps(month_fingerprint(folder)))
        previous = cursor.get(month, {})
        if previous.get("fingerprint") == fingerprint:
            continue
        checksum = month_checksum(folder)
        cursor[month] = {"fingerprint": fingerprint, "sha256": checksum}
        if previous.get("sha256") == checksum:
            continue
        requests.append(
            dg.RunRequest(
                run_key=f"{month}:{checksum[:16]}",
                partition_key=month,
                tags={
                    "creditplatform/landing_sha256": checksum,
                    "creditplatform/trigger": "landing",
                },
            )
        )
    context.update_cursor(json.dumps(cursor, sort_keys=True))
    if not requests:
        return dg.SkipReason("no new or changed complete month in the landing folder")
    return requests
