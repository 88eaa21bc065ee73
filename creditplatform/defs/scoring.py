"""``batch_scores``: the champion scores each month's applications, after its hash is checked.

A backfill of many months runs as one run (``BackfillPolicy.single_run``): loading and checking
the champion, and Dagster's own run, are paid once for the range instead of once a month. Dagster
gives every month of a range run the run's metadata, so the per-month figures are in its
``months`` table.
"""

import dagster as dg

from creditplatform.defs import metadata as md
from creditplatform.defs.automation import follows_its_month
from creditplatform.defs.partitions import monthly_partitions
from creditplatform.defs.resources import MONTHLY_RETRY, WAREHOUSE_POOL, MlflowResource, Warehouse
from creditplatform.warehouse.month_data import SCORES


@dg.asset(
    group_name="scoring",
    partitions_def=monthly_partitions,
    automation_condition=follows_its_month(),
    deps=["feature_store", "registry_promotion"],
    pool=WAREHOUSE_POOL,
    retry_policy=MONTHLY_RETRY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"duckdb", "mlflow"},
    description=f"PD of every application of the month under the champion, in `{SCORES}`; "
    "each row carries the model version. A challenger, if any, scores the same rows into "
    "`scores.shadow_scores` (the canary's evidence).",
)
def batch_scores(
    context: dg.AssetExecutionContext, warehouse: Warehouse, mlflow_tracking: MlflowResource
) -> dg.MaterializeResult:
    from creditplatform.features.store import NoFeatures
    from creditplatform.ml.batch_scoring import score_months
    from creditplatform.ml.registry import ArtifactTampered, NoChampion

    months = context.partition_keys
    try:
        with warehouse.get_connection() as con:
            scored = score_months(
                con, mlflow_tracking.registry(), months, context.run.run_id, context.log.warning
            )
    except (NoChampion, ArtifactTampered, NoFeatures) as err:
        raise dg.Failure(f"batch_scores {_span(months)}: {err}", allow_retries=False) from err
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(scored.rows),
            "model_version": dg.MetadataValue.int(scored.model_version),
            "mean_pd": dg.MetadataValue.float(scored.mean_pd),
            "rows_per_second": dg.MetadataValue.float(scored.rows / max(scored.seconds, 1e-9)),
            "artifact_sha256_verified": scored.artifact_sha256,
            "months_in_run": _span(months),
            "months": md.table(
                scored.per_month, {"month": "string", "rows": "int", "mean_pd": "float"}
            ),
            # The challenger that shadow-scored the same rows (0: none): the canary's evidence.
            "shadow_version": dg.MetadataValue.int(scored.shadow_version or 0),
            **(
                {"shadow_mean_pd": dg.MetadataValue.float(scored.shadow_mean_pd)}
                if scored.shadow_mean_pd is not None
                else {}
            ),
        }
    )


def _span(months: list[str]) -> str:
    return months[0] if len(months) == 1 else f"{months[0]}...{months[-1]}"
