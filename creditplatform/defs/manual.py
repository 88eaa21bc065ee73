"""``manual_promotion_job``: promote or roll back a named version by hand, with a reason.

It bypasses the gates on purpose (a model-risk decision taken by a person) and is audited in
the same table as the automatic decisions, with the reason given.
"""

from datetime import UTC, datetime
from typing import Literal

import dagster as dg
import duckdb
from pydantic import Field

from creditplatform.defs.raw import WAREHOUSE_WRITE_TAG
from creditplatform.defs.resources import MlflowResource, PlatformPaths
from creditplatform.defs.retrain import PROMOTION_TAG
from creditplatform.warehouse.audit import AuditRecord, append


class ManualPromotionConfig(dg.Config):
    action: Literal["promote", "rollback"] = Field(description="promote or rollback")
    version: int = Field(description="the registered model version to make champion")
    reason: str = Field(min_length=5, description="why (kept in the audit trail)")


@dg.op(tags={**PROMOTION_TAG, **WAREHOUSE_WRITE_TAG})
def set_champion(
    context: dg.OpExecutionContext,
    config: ManualPromotionConfig,
    paths: PlatformPaths,
    mlflow_tracking: MlflowResource,
) -> dict:
    from creditplatform.ml.registry import move_aliases

    registry = mlflow_tracking.registry()
    target = registry.version(config.version)  # raises if the version does not exist
    before = registry.champion()
    now = datetime.now(UTC)
    move_aliases(registry, int(target.version), before, now.isoformat())
    decision = "promoted" if config.action == "promote" else "rolled_back"
    record = AuditRecord(
        decided_at=now,
        version=config.version,
        decision=decision,
        trigger="manual",
        reasons=[config.reason],
        gates={"manual": True, "action": config.action},
        dagster_run_id=context.run_id,
        data_sha256=target.tags.get("data_sha256", ""),
        previous_champion=int(before.version) if before else None,
        champion_after=config.version,
    )
    with duckdb.connect(str(paths.warehouse)) as con:
        append(con, record)
    context.log.info(f"{decision}: champion v{record.previous_champion} -> v{config.version}")
    return {"decision": decision, "champion": config.version}


@dg.job(tags={**PROMOTION_TAG, "creditplatform/trigger": "manual"})
def manual_promotion_job():
    set_champion()
