"""The production profile's daily lake housekeeping (``warehouse.lake_maintenance``): a job
with one op and its schedule. Only a DuckLake warehouse has anything to maintain, so
``definitions.py`` adds these on the production profile only."""

import dagster as dg

from creditplatform.defs.resources import MONTHLY_RETRY, WAREHOUSE_POOL, Warehouse
from creditplatform.warehouse.lake_maintenance import maintain_lake


@dg.op(pool=WAREHOUSE_POOL, retry_policy=MONTHLY_RETRY)
def maintain_warehouse_lake(context: dg.OpExecutionContext, warehouse: Warehouse) -> None:
    """A merge that conflicts with a concurrent writer's commit fails whole; the retry runs it
    again on the new snapshot."""
    with warehouse.get_connection() as con:
        done = maintain_lake(con, warehouse.lake_snapshot_retention_days)
    context.add_output_metadata(
        {
            "tables_merged": done.merged_tables,
            "snapshots_expired": done.expired_snapshots,
            "files_deleted": done.deleted_files,
            "data_files_before": done.data_files_before,
            "data_files_after": done.data_files_after,
            "seconds": dg.MetadataValue.float(round(done.seconds, 3)),
        }
    )


@dg.job(description="Merge the lake's small Parquet files and expire old snapshots.")
def lake_maintenance_job():
    maintain_warehouse_lake()


lake_maintenance_schedule = dg.ScheduleDefinition(
    job=lake_maintenance_job,
    cron_schedule="30 3 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily at 03:30, when monthly runs are unlikely.",
)
