"""The retrain assets: splits → candidate model → evaluation → promotion.

Each takes the asset before it as an input, so the evaluation always scores the model this run
trained and the promotion always decides on that evaluation (lineage, not "the newest file").
The work is in ``ml/training_run.py`` and ``ml/promotion.py``; these bodies pass resources in
and show the result. MLflow and scikit-learn are imported inside the bodies: every process that
loads the code location (the UI, the daemon, each run) would otherwise pay ~5 s to import them.
"""

from dataclasses import replace
from typing import Any

import dagster as dg
import pydantic

from creditplatform.defs import metadata as md
from creditplatform.defs.resources import (
    WAREHOUSE_POOL,
    Alerts,
    MlflowResource,
    PlatformPaths,
    PromotionGates,
    ScoringPolicy,
    TrainingPolicy,
    Warehouse,
)
from creditplatform.ml.lineage import frame_sha256
from creditplatform.ml.records import (
    CandidateInfo,
    EvaluationInfo,
    ModelParams,
    SplitsInfo,
    request_note,
)
from creditplatform.ml.training_data import load_split

TRAINING_GROUP = "training"
SPLIT_CHECKS = {
    "no_applicant_in_two_splits": "Every applicant is in exactly one split.",
    "oot_after_training_months": "The out-of-time month is strictly after the training months.",
    "both_classes_in_every_split": "Defaults and repayments are present in every split.",
}


REASON = "creditplatform/reason"


def trigger_of(context: dg.AssetExecutionContext) -> str:
    return context.run.tags.get("creditplatform/trigger", "manual")


class SplitConfig(dg.Config):
    """Set per run from the launchpad or ``retrain --window-months``."""

    window_months: int = pydantic.Field(
        default=0, ge=0, description="matured months to train on; 0: the training_window_months "
        "setting",
    )  # fmt: skip


@dg.asset(
    group_name=TRAINING_GROUP,
    deps=["feature_store"],
    check_specs=[
        dg.AssetCheckSpec(n, asset="training_splits", blocking=True, description=d)
        for n, d in SPLIT_CHECKS.items()
    ],
    pool=WAREHOUSE_POOL,
    kinds={"duckdb"},
    description="Matured months split by applicant (stable hash) into train/valid/test, with "
    "the newest matured month held out as out-of-time; the training frame's SHA-256 names it. "
    "A first model (no champion yet) needs the configured minimum of matured months, whatever "
    "triggered the run.",
)
def training_splits(
    config: SplitConfig,
    warehouse: Warehouse,
    mlflow_tracking: MlflowResource,
    training: TrainingPolicy,
):
    from creditplatform.ml.training_run import CannotTrain, split_window

    has_champion = mlflow_tracking.registry().champion() is not None
    policy = training.split_policy()
    if config.window_months:
        policy = replace(policy, training_window_months=config.window_months)
    try:
        found = split_window(warehouse.get_connection, policy, has_champion)
    except CannotTrain as err:
        raise dg.Failure(f"training_splits: {err}", allow_retries=False) from err
    for check in found.checks:
        yield dg.AssetCheckResult(check_name=check.name, passed=check.passed,
                                  severity=dg.AssetCheckSeverity.ERROR,
                                  description=check.description)  # fmt: skip
    if not found.passed:
        failed = [c.description for c in found.checks if not c.passed]
        raise dg.Failure("training_splits: " + "; ".join(failed))
    info = found.info
    yield dg.Output(info, metadata={
        "data_sha256": info.split_set, "window": ", ".join(info.window),
        "oot_month": info.oot_month, "rows": dg.MetadataValue.json(info.rows),
        "label_rate": dg.MetadataValue.json(info.label_rates),
        "training_rows": dg.MetadataValue.int(info.rows.get("train", 0)),
    })  # fmt: skip


@dg.asset_check(
    asset=training_splits,
    blocking=True,
    pool=WAREHOUSE_POOL,
    description="Training rows still hash to the SHA-256 recorded when the split was made.",
)
def training_data_unchanged(warehouse: Warehouse, training_splits: SplitsInfo):
    with warehouse.get_connection() as con:
        current = frame_sha256(load_split(con, training_splits.split_set, "train"))
    return dg.AssetCheckResult(
        passed=current == training_splits.data_sha256,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"recorded": training_splits.data_sha256, "current": current},
        description=None if current == training_splits.data_sha256 else
        "training rows changed after the split: recorded and current SHA-256 differ",
    )  # fmt: skip


_DEFAULTS = ModelParams()


class TrainConfig(dg.Config):
    """Hyper-parameters, set per run from the launchpad (defaults: ``ModelParams``)."""

    learning_rate: float = _DEFAULTS.learning_rate
    max_iter: int = _DEFAULTS.max_iter
    max_leaf_nodes: int = _DEFAULTS.max_leaf_nodes
    min_samples_leaf: int = _DEFAULTS.min_samples_leaf
    l2_regularization: float = _DEFAULTS.l2_regularization
    calibration: str = _DEFAULTS.calibration


@dg.asset(
    group_name=TRAINING_GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"sklearn", "mlflow"},
    description="HistGradientBoosting pipeline fitted on train, isotonic-calibrated on valid, "
    "plus a logistic baseline; logged to MLflow and registered as a new version.",
)
def candidate_model(
    context: dg.AssetExecutionContext,
    config: TrainConfig,
    training_splits: SplitsInfo,
    paths: PlatformPaths,
    warehouse: Warehouse,
    mlflow_tracking: MlflowResource,
    # dagster-mlflow's run of this Dagster run, active in the process: everything is logged there.
    mlflow: dg.ResourceParam[Any],
    training: TrainingPolicy,
    scoring_policy: ScoringPolicy,
) -> dg.Output[CandidateInfo]:
    from creditplatform.ml.training_run import CannotTrain, RunFacts, train_candidate

    run_id, registry = context.run.run_id, mlflow_tracking.registry()
    url = md.dagster_run_url(mlflow_tracking.dagster_ui_url, run_id)
    facts = RunFacts(run_id, url, trigger_of(context), paths.now(),
                     context.run.tags.get(REASON, ""))  # fmt: skip
    params = ModelParams(seed=training.seed, **config.model_dump())
    try:
        trained = train_candidate(warehouse.get_connection, registry, training_splits, params,
                                  scoring_policy.metric_policy(), facts)  # fmt: skip
    except CannotTrain as err:
        raise dg.Failure(f"candidate_model: {err}") from err
    info, ui = trained.info, mlflow_tracking.ui_url
    return dg.Output(info, metadata={
        "model_version": dg.MetadataValue.int(info.version),
        "mlflow_run": md.mlflow_run_url(ui, trained.experiment_id, info.mlflow_run_id),
        "mlflow_model_version": md.mlflow_version_url(ui, registry.model_name, info.version),
        "mlflow_run_id": info.mlflow_run_id, "mlflow_tracking_uri": registry.tracking_uri,
        "model_uri": info.model_uri, "data_sha256": info.data_sha256,
        "artifact_sha256": trained.artifact_sha256,
        "training_rows": dg.MetadataValue.int(info.training_rows),
        "trigger": info.trigger, "trained_at": trained.trained_at,
    })  # fmt: skip


@dg.asset(
    group_name=TRAINING_GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"mlflow"},
    description="Candidate, current champion and baseline scored on the same test and "
    "out-of-time rows in one run; HTML + JSON report under reports/evaluation/<version>/.",
)
def evaluation_report(
    context: dg.AssetExecutionContext,
    candidate_model: CandidateInfo,
    paths: PlatformPaths,
    warehouse: Warehouse,
    mlflow_tracking: MlflowResource,
    training: TrainingPolicy,
    scoring_policy: ScoringPolicy,
) -> dg.Output[EvaluationInfo]:
    from creditplatform.ml.training_run import evaluate_candidate

    done = evaluate_candidate(
        warehouse.get_connection, mlflow_tracking.registry(), candidate_model,
        scoring_policy.metric_policy(), training.seed, paths.reports_dir, context.run.run_id,
    )  # fmt: skip
    metrics, run_id = done.report.metrics, candidate_model.mlflow_run_id
    return dg.Output(done.info, metadata={
        "metrics": md.metrics_table(metrics),
        "comparisons": md.comparisons_table(done.report.comparisons),
        "plots": md.pngs(done.report.plots),
        "mlflow_run": md.mlflow_run_url(mlflow_tracking.ui_url, done.experiment_id, run_id),
        "report_html": dg.MetadataValue.path(str(done.files["html"])),
        "report_json": dg.MetadataValue.path(str(done.files["json"])),
        "candidate_test_auc": dg.MetadataValue.float(metrics["test"]["candidate"]["roc_auc"]),
        "candidate_test_auc_ci": str(metrics["test"]["candidate"]["roc_auc_ci"]),
        "champion_version": dg.MetadataValue.int(done.info.champion_version or 0),
        "top_features": md.table(
            [{"feature": f, "auc_drop": v} for f, v in done.report.importances[:15]],
            {"feature": "string", "auc_drop": "float"},
        ),
    })  # fmt: skip


@dg.asset(
    group_name=TRAINING_GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"mlflow", "duckdb"},
    description="Champion–challenger gates on a fresh comparison (minimum defaults, then the "
    "metric gates with their intervals); on pass the aliases move (challenger, then champion "
    "last) under the promotion journal; every attempt is audited in audit.promotions; a "
    "rejection is alerted with its gates.",
)
def registry_promotion(
    context: dg.AssetExecutionContext,
    evaluation_report: EvaluationInfo,
    paths: PlatformPaths,
    warehouse: Warehouse,
    mlflow_tracking: MlflowResource,
    promotion_gates: PromotionGates,
    alerts: Alerts,
) -> dg.Output[dict]:
    from creditplatform.ml.promotion import Attempt, promote_candidate, rejection_alert

    registry = mlflow_tracking.registry()
    reason, candidate = context.run.tags.get(REASON), evaluation_report.candidate
    note = request_note(reason, candidate.window, candidate.params) if reason else ""
    attempt = Attempt(context.run.run_id, trigger_of(context), paths.now(), context.log.warning,
                      note)  # fmt: skip
    with warehouse.get_connection() as con:
        record = promote_candidate(registry, con, evaluation_report,
                                   promotion_gates.gate_policy(), attempt)  # fmt: skip
    if record.decision == "rejected":
        alerts.send(rejection_alert(record))
    return dg.Output(
        {"version": record.version, "decision": record.decision, "reasons": record.reasons,
         "champion": record.champion_after},
        metadata={
            "decision": record.decision,
            "candidate_version": dg.MetadataValue.int(record.version),
            "champion_before": dg.MetadataValue.int(record.previous_champion or 0),
            "champion_after": dg.MetadataValue.int(record.champion_after or 0),
            "gates": md.gates_table(record.gates),
            "mlflow_model_version": md.mlflow_version_url(
                mlflow_tracking.ui_url, registry.model_name, record.version
            ),
            "reasons": dg.MetadataValue.json(record.reasons),
            "trigger": record.trigger,
            "attempt_id": record.attempt_id,
        },
    )  # fmt: skip
