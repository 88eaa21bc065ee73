"""``manual_promotion_job``: promote or roll back a named version by hand, with a reason.

It bypasses the gates on purpose (a model-risk decision taken by a person) but not the
safeguards: the target must carry its lineage tags, its artifact must still hash to the
SHA-256 recorded at registration, and it must have been evaluated. It runs under the same
promotion journal as the automatic decisions and is audited in the same table; a refused
request is audited too.
"""

from dataclasses import replace
from typing import Literal

import dagster as dg
from pydantic import Field

from creditplatform import clock
from creditplatform.defs.resources import WAREHOUSE_POOL, MlflowResource, Warehouse
from creditplatform.settings import load_settings
from creditplatform.warehouse.audit import AuditRecord, append

TRIGGER_TAG = "creditplatform/trigger"


class ManualPromotionConfig(dg.Config):
    action: Literal["promote", "rollback"] = Field(description="promote or rollback")
    version: int = Field(description="the registered model version to make champion")
    reason: str = Field(min_length=5, description="why (kept in the audit trail)")


@dg.op(pool=WAREHOUSE_POOL)
def set_champion(
    context: dg.OpExecutionContext,
    config: ManualPromotionConfig,
    warehouse: Warehouse,
    mlflow_tracking: MlflowResource,
) -> dict:
    from creditplatform.ml.promotion import execute, new_attempt_id, reconcile
    from creditplatform.ml.registry import target_problems

    registry = mlflow_tracking.registry()
    decision = "promoted" if config.action == "promote" else "rolled_back"
    with warehouse.get_connection() as con:
        for repaired in reconcile(registry, con, context.run.run_id):
            context.log.warning(f"reconciled v{repaired.version}: {repaired.reasons[-1]}")
        before = registry.champion()
        previous = int(before.version) if before else None
        target, problems = target_problems(registry, config.version)
        record = AuditRecord(
            decided_at=clock.now(load_settings().data_dir),
            version=config.version,
            decision=decision,
            trigger="manual",
            reasons=[config.reason],
            gates={"manual": True, "action": config.action},
            dagster_run_id=context.run.run_id,
            data_sha256=target.tags.get("data_sha256", "") if target else "",
            previous_champion=previous,
            champion_after=config.version,
            attempt_id=new_attempt_id(),
        )
        if problems:
            refused = replace(
                record, decision="rejected", champion_after=previous,
                reasons=[config.reason, *(f"refused: {p}" for p in problems)],
            )  # fmt: skip
            append(con, refused)
            raise dg.Failure(
                f"manual {config.action} of v{config.version} refused: " + "; ".join(problems),
                allow_retries=False,
            )
        execute(registry, con, record)
    context.log.info(f"{decision}: champion v{previous} -> v{config.version}")
    return {"decision": decision, "champion": config.version, "previous": previous}


@dg.job(tags={TRIGGER_TAG: "manual"})
def manual_promotion_job():
    set_champion()
