"""``drift_report``: a month's features and champion scores against the champion's drift
reference; the work is ``ml/monthly_drift.report_month``, this asset shows its numbers (the drift
sensor acts on them) and judges the ``drift_within_limits`` check. The ML libraries are imported
in the body, not at load (see ``training``).
"""

import dagster as dg

from creditplatform.defs import metadata as md
from creditplatform.defs.automation import follows_its_month
from creditplatform.defs.partitions import monthly_partitions
from creditplatform.defs.resources import (
    MONTHLY_RETRY,
    WAREHOUSE_POOL,
    DriftRules,
    MlflowResource,
    PlatformPaths,
    TrainingPolicy,
    Warehouse,
)


def _nan_if_none(value: float | None) -> dg.MetadataValue:
    return dg.MetadataValue.float(float("nan") if value is None else value)


def performance_metadata(judgement) -> dict:
    """The performance rule's verdict on the month (``performance_degraded`` is what the drift
    sensor counts; absent until the month's outcomes are in)."""
    if judgement is None:
        return {"performance": "outcomes not matured"}
    return {
        "performance": "degraded" if judgement.degraded else "not degraded",
        "performance_degraded": dg.MetadataValue.bool(judgement.degraded),
        "performance_reasons": dg.MetadataValue.json(judgement.reasons),
    }


def drift_metadata(found) -> dict:
    """The asset's metadata: the evidence the drift sensor reads, then what people look at."""
    v, summary = found.verdict, found.summary
    return {
        "max_psi": dg.MetadataValue.float(v.max_psi),
        "max_psi_feature": v.max_psi_feature,
        "drifted_features": dg.MetadataValue.json(v.drifted_features),
        "prediction_ks_pvalue": dg.MetadataValue.float(v.prediction_ks_pvalue),
        "new_labelled_rows": dg.MetadataValue.int(found.new_labelled_rows),
        "month_auc": _nan_if_none(v.month_auc),
        "auc_relative_drop": _nan_if_none(v.auc_relative_drop),
        **performance_metadata(found.performance),
        "champion_version": dg.MetadataValue.int(v.champion_version),
        "as_of": found.now.isoformat(timespec="seconds"),
        "statistics_seconds": dg.MetadataValue.float(round(found.statistics_seconds, 2)),
        "report_html": dg.MetadataValue.path(str(found.page)),
        "report_html_scope": (
            f"verdict, score distribution, then Evidently on the top {len(found.shown_features)} "
            f"of {v.features_total} features by PSI and the predicted PD, {found.html_rows} rows "
            "a side"
            if found.shown_features
            else f"verdict, score distribution and the PSI of all {v.features_total} features "
            "(within limits: Evidently's views are drawn for months with drift)"
        ),
        "drift_retrain_rule": "retrain" if v.retrain else "no retrain",
        "reference_months": ", ".join(v.reference_months),
        "top_features": md.table(
            [
                {"feature": d.feature, "psi": d.psi, "band": summary.band(d)}
                for d in summary.features[:15]
            ],
            {"feature": "string", "psi": "float", "band": "string"},
        ),
    }


@dg.asset(
    group_name="monitoring",
    partitions_def=monthly_partitions,
    automation_condition=follows_its_month(),
    deps=["feature_store", "registry_promotion"],
    check_specs=[
        dg.AssetCheckSpec(
            "drift_within_limits",
            asset="drift_report",
            description="No feature at or above the PSI threshold (drift_psi_threshold) and no "
            "prediction drift (champion scores' KS p below drift_prediction_pvalue).",
        )
    ],
    pool=WAREHOUSE_POOL,
    retry_policy=MONTHLY_RETRY,
    kinds={"evidently", "duckdb"},
    description="PSI/KS per feature and prediction drift vs the champion's drift reference (its "
    "newest training month); the month's AUC under the champion once its outcomes are in. "
    "Verdict-first HTML page (Evidently views of our numbers) + JSON under reports/drift/<month>/.",
)
def drift_report(
    context: dg.AssetExecutionContext,
    paths: PlatformPaths,
    warehouse: Warehouse,
    mlflow_tracking: MlflowResource,
    drift_rules: DriftRules,
    training: TrainingPolicy,
):
    from creditplatform.features.store import NoFeatures
    from creditplatform.ml.monthly_drift import DriftPolicy, report_month

    month, registry = context.partition_key, mlflow_tracking.registry()
    champion = registry.champion()
    if champion is None:
        yield dg.AssetCheckResult(passed=True, description="no champion yet: nothing to compare")
        yield dg.MaterializeResult(metadata={"status": "no champion yet: nothing to compare"})
        return
    policy = DriftPolicy(drift_rules.retrain_rules(), drift_rules.drift_reference_months,
                         training.matured_label_share, drift_rules.performance_rules(),
                         drift_rules.drift_evidently_views == "always")  # fmt: skip
    try:
        found = report_month(warehouse.get_connection, registry, champion, month, policy,
                             paths.reports_dir, paths.now())  # fmt: skip
    except NoFeatures as err:
        raise dg.Failure(f"drift_report {month}: {err}", allow_retries=False) from err
    v = found.verdict
    yield dg.AssetCheckResult(
        passed=found.within_limits,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"max PSI {v.max_psi:.3f} ({v.max_psi_feature}); {len(v.drifted_features)} "
            f"feature(s) >= {v.psi_threshold}; prediction KS p = {v.prediction_ks_pvalue:.3g} "
            f"(drift below {v.prediction_pvalue})"
        ),
        metadata={"drifted_features": v.drifted_features},
    )
    yield dg.MaterializeResult(metadata=drift_metadata(found))
