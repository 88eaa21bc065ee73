"""``manual_promotion_job``: promote or roll back a named version by hand, with a reason.

It bypasses the gates on purpose (a model-risk decision taken by a person) but not the
safeguards: the target must carry its lineage tags, its artifact must still hash to the
SHA-256 recorded at registration, and it must have been evaluated. It runs under the same
promotion journal as the automatic decisions and is audited in the same table; a refused
request is audited too (``ml.promotion.set_champion_by_hand``).
"""

from typing import Literal

import dagster as dg
from pydantic import Field

from creditplatform.defs.resources import WAREHOUSE_POOL, MlflowResource, PlatformPaths, Warehouse

TRIGGER_TAG = "creditplatform/trigger"


class ManualPromotionConfig(dg.Config):
    action: Literal["promote", "rollback"] = Field(description="promote or rollback")
    version: int = Field(description="the registered model version to make champion")
    reason: str = Field(min_length=5, description="why (kept in the audit trail)")


@dg.op(pool=WAREHOUSE_POOL)
def set_champion(
    context: dg.OpExecutionContext,
    config: ManualPromotionConfig,
    paths: PlatformPaths,
    warehouse: Warehouse,
    mlflow_tracking: MlflowResource,
) -> dict:
    from creditplatform.ml.promotion import Attempt, Refused, set_champion_by_hand

    attempt = Attempt(context.run.run_id, "manual", paths.now(), context.log.warning)
    try:
        with warehouse.get_connection() as con:
            record = set_champion_by_hand(
                mlflow_tracking.registry(), con, config.version, config.action == "rollback",
                config.reason, attempt,
            )  # fmt: skip
    except Refused as err:
        raise dg.Failure(
            f"manual {config.action} of v{config.version} refused: {err}", allow_retries=False
        ) from err
    previous = record.previous_champion
    context.log.info(f"{record.decision}: champion v{previous} -> v{config.version}")
    return {"decision": record.decision, "champion": config.version, "previous": previous}


@dg.job(tags={TRIGGER_TAG: "manual"})
def manual_promotion_job():
    set_champion()
