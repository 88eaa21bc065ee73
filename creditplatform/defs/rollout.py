"""The staged rollout's shell: ``champion_rollout`` (the canary), ``rollout_job`` and the sensor
that runs it when a challenger has new shadow scores.

The rule and the work are in ``ml/canary.py`` and ``ml/rollout.py``; this module passes the
resources in, alerts a hold, and shows the comparison (a table and both PD distributions) on
the asset page.
"""

import json

import dagster as dg

from creditplatform.defs import metadata as md
from creditplatform.defs.event_records import materialization, value
from creditplatform.defs.resources import (
    WAREHOUSE_POOL,
    Alerts,
    MlflowResource,
    PlatformPaths,
    RolloutPolicy,
    Warehouse,
)

ROLLOUT_GROUP = "rollout"
TRIGGER = "creditplatform/trigger"
BATCH_SCORES = dg.AssetKey("batch_scores")


@dg.asset(
    group_name=ROLLOUT_GROUP,
    deps=["registry_promotion", "batch_scores"],
    pool=WAREHOUSE_POOL,
    kinds={"mlflow", "duckdb"},
    description="The canary: the challenger's shadow scores against the champion's on the same "
    "applicants (approval-rate and mean-PD change, PSI, decisions flipped, each with its "
    "interval against its limit). Within limits: promoted through the promotion journal; "
    "outside: held and alerted once, for a person to approve or reject.",
)
def champion_rollout(
    context: dg.AssetExecutionContext,
    paths: PlatformPaths,
    warehouse: Warehouse,
    mlflow_tracking: MlflowResource,
    rollout_policy: RolloutPolicy,
    alerts: Alerts,
) -> dg.MaterializeResult:
    from creditplatform.ml.canary import canary_plot
    from creditplatform.ml.promotion import Attempt
    from creditplatform.ml.rollout import run_canary

    trigger = context.run.tags.get(TRIGGER, "canary")
    attempt = Attempt(context.run.run_id, trigger, paths.now(), context.log.warning)
    limits = rollout_policy.canary_limits()
    with warehouse.get_connection() as con:
        outcome = run_canary(mlflow_tracking.registry(), con, limits, attempt)
    if alert := outcome.alert():
        alerts.send(alert)
    metadata: dict = {"status": outcome.status}
    result = outcome.result
    if result is not None:
        context.log.info("; ".join(result.reasons()))
        metadata |= {
            "challenger_version": dg.MetadataValue.int(result.challenger_version),
            "champion_version": dg.MetadataValue.int(result.champion_version),
            "shadow_applicants": dg.MetadataValue.int(result.applicants),
            "months": ", ".join(result.months),
            "reasons": dg.MetadataValue.json(result.reasons()),
            "figures": md.table(
                [{"figure": f.name, "value": f.value, "ci_lo": f.lo, "ci_hi": f.hi,
                  "limit": f.limit, "within": f.within} for f in result.figures],
                {"figure": "string", "value": "float", "ci_lo": "float", "ci_hi": "float",
                 "limit": "float", "within": "bool"},
            ),
        }  # fmt: skip
    if result is not None and outcome.pairs is not None and result.applicants:
        plot = canary_plot(outcome.pairs["champion_pd"].to_numpy(),
                           outcome.pairs["challenger_pd"].to_numpy(), result,
                           limits.policy_threshold)  # fmt: skip
        metadata["plots"] = md.pngs({"champion_vs_challenger_pd": plot})
    if outcome.record is not None:
        metadata["decision"] = outcome.record.decision
        metadata["attempt_id"] = outcome.record.attempt_id
    return dg.MaterializeResult(metadata=metadata)


rollout_job = dg.define_asset_job(
    "rollout_job",
    selection=dg.AssetSelection.assets(champion_rollout),
    description="The canary on the challenger's shadow scores (champion_rollout).",
)


@dg.sensor(
    job=rollout_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Runs the canary (rollout_job) when batch_scores records new shadow scores of "
    "a challenger; the canary itself waits until it has enough applicants.",
)
def canary_sensor(context: dg.SensorEvaluationContext):
    cursor = json.loads(context.cursor) if context.cursor else {}
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=BATCH_SCORES, after_storage_id=cursor.get("after")),
        limit=200,
        ascending=True,
    ).records
    shadowed: dict[int, int] = {}  # challenger version -> newest scores event that shadowed it
    for record in records:
        cursor["after"] = record.storage_id
        version = value(materialization(record).metadata, "shadow_version")
        if version:
            shadowed[int(version)] = record.storage_id
    context.update_cursor(json.dumps(cursor))
    if not shadowed:
        return dg.SkipReason("no new shadow scores")
    return [
        dg.RunRequest(run_key=f"canary:v{version}:{storage_id}", tags={TRIGGER: "canary"})
        for version, storage_id in sorted(shadowed.items())
    ]
