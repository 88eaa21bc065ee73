"""``batch_scores``: the champion scores each month's applications, after its hash is checked."""

import time
from datetime import UTC, datetime

import dagster as dg

from creditplatform.defs.automation_conditions import follows_its_month
from creditplatform.defs.partitions import monthly_partitions
from creditplatform.defs.resources import MONTHLY_RETRY, WAREHOUSE_POOL, MlflowResource, Warehouse
from creditplatform.features.store import STORE
from creditplatform.warehouse.month_data import SCORES


@dg.asset(
    group_name="scoring",
    partitions_def=monthly_partitions,
    automation_condition=follows_its_month(),
    deps=["feature_store", "registry_promotion"],
    pool=WAREHOUSE_POOL,
    retry_policy=MONTHLY_RETRY,
    kinds={"duckdb", "mlflow"},
    description=f"PD of every application of the month under the champion, in `{SCORES}`; "
    "each row carries the model version.",
)
def batch_scores(
    context: dg.AssetExecutionContext, warehouse: Warehouse, mlflow_tracking: MlflowResource
) -> dg.MaterializeResult:
    from creditplatform.ml.model import predict_pd
    from creditplatform.ml.promotion import reconcile
    from creditplatform.ml.registry import ArtifactTampered, NoChampion, load_champion

    month = context.partition_key
    registry = mlflow_tracking.registry()
    with warehouse.get_connection() as con:
        # Score only with a champion the audit trail agrees with (repair a crashed promotion).
        for repaired in reconcile(registry, con, context.run.run_id):
            context.log.warning(f"reconciled v{repaired.version}: {repaired.reasons[-1]}")
        try:
            champion, model = load_champion(registry)
        except (NoChampion, ArtifactTampered) as err:
            raise dg.Failure(
                description=f"batch_scores {month}: {err}", allow_retries=False
            ) from err
        frame = con.execute(
            f"SELECT * FROM {STORE} WHERE month = ? ORDER BY SK_ID_CURR", [month]
        ).df()
        if frame.empty:
            raise dg.Failure(
                f"batch_scores {month}: no features for this month in {STORE}",
                allow_retries=False,
            )
        started = time.perf_counter()
        scores = frame[["SK_ID_CURR"]].assign(
            month=month,
            pd=predict_pd(model, frame),
            model_version=int(champion.version),
            scored_at=datetime.now(UTC),
        )
        seconds = time.perf_counter() - started
        con.execute("CREATE SCHEMA IF NOT EXISTS scores")
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {SCORES} (month VARCHAR, SK_ID_CURR BIGINT, pd DOUBLE, "
            "model_version INTEGER, scored_at TIMESTAMPTZ)"
        )
        con.register("new_scores", scores)
        con.execute("BEGIN TRANSACTION")
        con.execute(f"DELETE FROM {SCORES} WHERE month = ?", [month])
        con.execute(
            f"INSERT INTO {SCORES} SELECT month, SK_ID_CURR, pd, model_version, scored_at "
            "FROM new_scores"
        )
        con.execute("COMMIT")
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(len(scores)),
            "model_version": dg.MetadataValue.int(int(champion.version)),
            "mean_pd": dg.MetadataValue.float(float(scores["pd"].mean())),
            "rows_per_second": dg.MetadataValue.float(len(scores) / max(seconds, 1e-9)),
            "artifact_sha256_verified": champion.tags.get("artifact_sha256", ""),
        }
    )
