"""``degradation_review_job``: the champion has stayed degraded; try the versions before it.

Requested by the drift sensor (``retrain_triggers``) when ``degraded_months`` matured months in
a row were degraded, or when a month is still degraded under the champion a performance retrain
was meant to replace. The work and the rule are in ``ml/degradation.py``; this op passes the
resources in, alerts the outcome and fails loudly only on a broken registry or warehouse.
"""

import dagster as dg
from pydantic import Field

from creditplatform.defs.resources import (
    WAREHOUSE_POOL,
    Alerts,
    DriftRules,
    MlflowResource,
    PlatformPaths,
    Warehouse,
)

TRIGGER_TAG = "creditplatform/trigger"


class ReviewConfig(dg.Config):
    months: list[str] = Field(description="the matured months the champion was degraded on")


@dg.op(pool=WAREHOUSE_POOL)
def review_degraded_champion(
    context: dg.OpExecutionContext,
    config: ReviewConfig,
    paths: PlatformPaths,
    warehouse: Warehouse,
    mlflow_tracking: MlflowResource,
    drift_rules: DriftRules,
    alerts: Alerts,
) -> dict:
    from creditplatform.ml.degradation import review_champion
    from creditplatform.ml.promotion import Attempt

    attempt = Attempt(context.run.run_id, "degradation", paths.now(), context.log.warning)
    review = review_champion(warehouse.get_connection, mlflow_tracking.registry(), config.months,
                             drift_rules.evidence_confidence, attempt)  # fmt: skip
    outcome = review.as_dict()
    alerts.send({
        "kind": "degradation_rollback" if review.rolled_back else "degraded_champion_kept",
        **outcome,
        "action": "none needed: the better version is champion" if review.rolled_back else
        "a person should act: no earlier version is better with evidence; champion tagged "
        "degraded",
    })  # fmt: skip
    context.log.info("; ".join(review.lines()) or "no earlier version to compare")
    return outcome


@dg.job(tags={TRIGGER_TAG: "degradation"})
def degradation_review_job():
    review_degraded_champion()
