"""``manual_promotion_job``: promote or roll back a named version by hand, or reject the
challenger, with a reason.

Approving a challenger the canary held is a promotion of that version; rejecting it removes it
from the shadow, and the champion stays (``ml.rollout.reject_challenger``).

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
    action: Literal["promote", "rollback", "reject"] = Field(
        description="promote or rollback (the version becomes champion), or reject (the "
        "challenger leaves the shadow; the champion stays)"
    )
    version: int = Field(description="the registered model version to make champion, or the "
                         "challenger to reject")  # fmt: skip
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
    from creditplatform.ml.rollout import reject_challenger

    attempt = Attempt(context.run.run_id, "manual", paths.now(), context.log.warning)
    registry = mlflow_tracking.registry()
    try:
        with warehouse.get_connection() as con:
            if config.action == "reject":
                record = reject_challenger(registry, con, config.version, config.reason, attempt)
            else:
                record = set_champion_by_hand(
                    registry, con, config.version, config.action == "rollback", config.reason,
                    attempt,
                )  # fmt: skip
    except Refused as err:
        raise dg.Failure(
            f"manual {config.action} of v{config.version} refused: {err}", allow_retries=False
        ) from err
    previous = record.previous_champion
    context.log.info(f"{record.decision} v{config.version}: champion v{previous} -> "
                     f"v{record.champion_after}")  # fmt: skip
    return {"decision": record.decision, "champion": record.champion_after, "previous": previous}


@dg.job(tags={TRIGGER_TAG: "manual"})
def manual_promotion_job():
    set_champion()
