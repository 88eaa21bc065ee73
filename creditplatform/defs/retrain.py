"""The retrain assets: splits → candidate model → evaluation → promotion.

Each takes the asset before it as an input, so the evaluation always scores the model this run
trained and the promotion always decides on that evaluation (lineage, not "the newest file").
MLflow and scikit-learn are imported inside the assets that use them: every process that loads
the code location (the UI, the daemon, each run) would otherwise pay ~5 s to import them.
"""

from datetime import UTC, datetime

import dagster as dg

from creditplatform import clock
from creditplatform.crashpoints import crashpoint
from creditplatform.defs import metadata as md
from creditplatform.defs.resources import WAREHOUSE_POOL, MlflowResource, Warehouse
from creditplatform.features.catalog import FEATURE_SCHEMA_VERSION, FEATURES
from creditplatform.features.store import STORE
from creditplatform.ml.lineage import frame_sha256
from creditplatform.ml.records import CandidateInfo, EvaluationInfo, ModelParams, SplitsInfo
from creditplatform.ml.splits import (
    assign_splits,
    check_splits,
    history_shortfall,
    matured_months,
)
from creditplatform.ml.training_data import label_share_by_month, load_split, save_splits
from creditplatform.settings import load_settings
from creditplatform.warehouse.audit import AuditRecord

TRAINING_GROUP = "training"
SPLIT_CHECKS = {
    "no_applicant_in_two_splits": "Every applicant is in exactly one split.",
    "oot_after_training_months": "The out-of-time month is strictly after the training months.",
    "both_classes_in_every_split": "Defaults and repayments are present in every split.",
}


def trigger_of(context: dg.AssetExecutionContext) -> str:
    return context.run.tags.get("creditplatform/trigger", "manual")


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
    context: dg.AssetExecutionContext, warehouse: Warehouse, mlflow_tracking: MlflowResource
):
    settings = load_settings()
    has_champion = mlflow_tracking.registry().champion() is not None
    with warehouse.get_connection() as con:
        matured = matured_months(label_share_by_month(con), settings.matured_label_share)
        window = matured[-settings.training_window_months :]
        problem = history_shortfall(len(window), has_champion, settings.min_training_months)
        if problem:
            raise dg.Failure(f"training_splits: {problem}; matured: {matured or 'none'}",
                             allow_retries=False)  # fmt: skip
        features = con.execute(
            f"SELECT * FROM {STORE} WHERE month IN ({', '.join('?' * len(window))})", window
        ).df()
        splits = assign_splits(
            features, window, settings.seed, settings.valid_share, settings.test_share
        )
        results = check_splits(splits)
        train_rows = features.merge(splits.loc[splits["split"] == "train", ["SK_ID_CURR"]])
        split_set = frame_sha256(train_rows)
        if all(r.passed for r in results):
            save_splits(con, split_set, splits)
    for result in results:
        yield dg.AssetCheckResult(
            check_name=result.name,
            passed=result.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            description=result.description,
        )
    if not all(r.passed for r in results):
        raise dg.Failure(
            "training_splits: " + "; ".join(r.description for r in results if not r.passed)
        )
    counts = splits["split"].value_counts().to_dict()
    rates = splits.groupby("split")["TARGET"].mean().round(5).to_dict()
    info = SplitsInfo(split_set, window, window[-1], counts, rates, settings.seed)
    yield dg.Output(
        info,
        metadata={
            "data_sha256": split_set,
            "window": ", ".join(window),
            "oot_month": window[-1],
            "rows": dg.MetadataValue.json(counts),
            "label_rate": dg.MetadataValue.json(rates),
            "training_rows": dg.MetadataValue.int(int(counts.get("train", 0))),
        },
    )


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
    warehouse: Warehouse,
    mlflow_tracking: MlflowResource,
) -> dg.Output[CandidateInfo]:
    import mlflow

    from creditplatform.ml.metrics import classification_metrics
    from creditplatform.ml.model import predict_pd, train
    from creditplatform.ml.reason_codes import reference_values
    from creditplatform.ml.registry import (
        artifact_sha256,
        git_commit,
        log_pd_model,
        log_sklearn_model,
        register,
    )

    settings = load_settings()
    params = ModelParams(seed=settings.seed, **config.model_dump())
    with warehouse.get_connection() as con:
        train_x = load_split(con, training_splits.split_set, "train")
        valid_x = load_split(con, training_splits.split_set, "valid")
    if frame_sha256(train_x) != training_splits.data_sha256:
        raise dg.Failure("training rows changed since training_splits ran; re-run the splits")
    train_y, valid_y = train_x["TARGET"].to_numpy(int), valid_x["TARGET"].to_numpy(int)
    registry = mlflow_tracking.registry()
    trigger = trigger_of(context)
    trained_at = clock.now(settings.data_dir).isoformat(timespec="seconds")
    tags = {
        "data_sha256": training_splits.data_sha256,
        "training_rows": str(len(train_x)),
        "label_rate": f"{train_y.mean():.6f}",
        "feature_schema_version": str(FEATURE_SCHEMA_VERSION),
        "git_commit": git_commit(),
        "dagster_run_id": context.run.run_id,
        "dagster_run_url": md.dagster_run_url(settings.dagster_ui_url, context.run.run_id),
        "trigger": trigger,
        "window": ",".join(training_splits.window),
        "trained_at": trained_at,
    }
    with registry.run(f"candidate-{context.run.run_id[:8]}", tags) as run:
        crashpoint("fit")
        models = train(train_x, train_y, valid_x, valid_y, params)
        mlflow.log_params(params.as_dict())
        for label, model in (("model", models.model), ("baseline", models.baseline)):
            metrics = classification_metrics(
                valid_y, predict_pd(model, valid_x), settings.policy_threshold,
                settings.precision_at_k_share,
            )  # fmt: skip
            mlflow.log_metrics({f"valid_{label}_{k}": v for k, v in metrics.items()})
        # The signature sees every valid row as stored, so no column looks int-only or all-null.
        example = valid_x[list(FEATURES)]
        info = log_pd_model(models.model, "model", example, reference_values(train_x))
        baseline = log_sklearn_model(models.baseline, "baseline", example)
        baseline_tags = {
            "baseline_uri": baseline.model_uri,
            "baseline_sha256": artifact_sha256(baseline.model_uri),
        }
        version = register(registry, info.model_uri, {**tags, **baseline_tags})
        run_id = run.info.run_id
    candidate = CandidateInfo(
        version=int(version.version),
        mlflow_run_id=run_id,
        model_uri=f"models:/{registry.model_name}/{version.version}",
        baseline_uri=baseline.model_uri,
        data_sha256=training_splits.data_sha256,
        training_rows=len(train_x),
        label_rate=float(train_y.mean()),
        feature_schema_version=FEATURE_SCHEMA_VERSION,
        window=training_splits.window,
        oot_month=training_splits.oot_month,
        trigger=trigger,
        params=params.as_dict(),
    )
    ui = mlflow_tracking.ui_url
    return dg.Output(
        candidate,
        metadata={
            "model_version": dg.MetadataValue.int(candidate.version),
            "mlflow_run": md.mlflow_run_url(ui, run.info.experiment_id, run_id),
            "mlflow_model_version": md.mlflow_version_url(
                ui, registry.model_name, candidate.version
            ),
            "mlflow_run_id": run_id,
            "mlflow_tracking_uri": registry.tracking_uri,
            "model_uri": candidate.model_uri,
            "data_sha256": candidate.data_sha256,
            "artifact_sha256": version.tags.get("artifact_sha256", ""),
            "training_rows": dg.MetadataValue.int(candidate.training_rows),
            "trigger": trigger,
            "trained_at": trained_at,
        },
    )


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
    warehouse: Warehouse,
    mlflow_tracking: MlflowResource,
) -> dg.Output[EvaluationInfo]:
    from creditplatform.ml import evaluation as ev
    from creditplatform.ml.model import predict_pd
    from creditplatform.ml.registry import load_verified, load_verified_baseline

    settings = load_settings()
    registry = mlflow_tracking.registry()
    client = registry.client()
    candidate_version = registry.version(candidate_model.version)
    models = {"candidate": load_verified(registry, candidate_version)}
    champion = registry.champion()
    if champion is not None and int(champion.version) != candidate_model.version:
        models["champion"] = load_verified(registry, champion)
    else:
        champion = None
    models["baseline"] = load_verified_baseline(registry, candidate_version)
    with warehouse.get_connection() as con:
        frames = {
            s: load_split(con, candidate_model.data_sha256, s) for s in ("test", "oot", "valid")
        }
    sets = [
        ev.ScoredSet(name, frames[name]["TARGET"].to_numpy(int),
                     {label: predict_pd(m, frames[name]) for label, m in models.items()})
        for name in ("test", "oot")
    ]  # fmt: skip
    report = ev.Report(
        ev.score_sets(sets, settings.policy_threshold, settings.precision_at_k_share)
    )
    report.plots = ev.plot_curves(sets[0])
    valid = frames["valid"]
    report.importances = ev.feature_importances(
        models["candidate"], valid[list(FEATURES)], valid["TARGET"].to_numpy(int), settings.seed
    )
    report.plots["feature_importance"] = ev.plot_importances(report.importances)
    out_dir = settings.reports_dir / "evaluation" / f"v{candidate_model.version}"
    context_facts = {
        "candidate version": candidate_model.version,
        "champion version": champion.version if champion else "none",
        "training window": ", ".join(candidate_model.window),
        "out-of-time month": candidate_model.oot_month,
        "data SHA-256": candidate_model.data_sha256,
        "test rows": len(frames["test"]),
        "oot rows": len(frames["oot"]),
        "dagster run": context.run.run_id,
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    paths_out = ev.write_report(
        report, out_dir, f"Evaluation of model v{candidate_model.version}", context_facts
    )
    client.log_artifacts(candidate_model.mlflow_run_id, str(out_dir), "evaluation")
    for set_name, per_model in report.metrics.items():
        for metric, value in per_model["candidate"].items():
            client.log_metric(candidate_model.mlflow_run_id, f"{set_name}_{metric}", value)
    info = EvaluationInfo(
        candidate_model, int(champion.version) if champion else None, report.metrics, str(out_dir)
    )
    run = client.get_run(candidate_model.mlflow_run_id)
    return dg.Output(
        info,
        metadata={
            "metrics": md.metrics_table(report.metrics),
            "plots": md.pngs(report.plots),
            "mlflow_run": md.mlflow_run_url(
                mlflow_tracking.ui_url, run.info.experiment_id, candidate_model.mlflow_run_id
            ),
            "report_html": dg.MetadataValue.path(str(paths_out["html"])),
            "report_json": dg.MetadataValue.path(str(paths_out["json"])),
            "candidate_test_auc": dg.MetadataValue.float(
                report.metrics["test"]["candidate"]["roc_auc"]
            ),
            "champion_version": dg.MetadataValue.int(info.champion_version or 0),
            "top_features": md.table(
                [{"feature": f, "auc_drop": v} for f, v in report.importances[:15]],
                {"feature": "string", "auc_drop": "float"},
            ),
        },
    )


@dg.asset(
    group_name=TRAINING_GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"mlflow", "duckdb"},
    description="Champion–challenger gates on a fresh comparison; on pass the aliases move "
    "(challenger, then champion last) under the promotion journal; every attempt is audited "
    "in audit.promotions.",
)
def registry_promotion(
    context: dg.AssetExecutionContext,
    evaluation_report: EvaluationInfo,
    warehouse: Warehouse,
    mlflow_tracking: MlflowResource,
) -> dg.Output[dict]:
    from creditplatform.ml.promotion import execute, gated_decision, new_attempt_id, reconcile
    from creditplatform.ml.registry import missing_lineage

    settings = load_settings()
    registry = mlflow_tracking.registry()
    candidate = evaluation_report.candidate
    with warehouse.get_connection() as con:
        for repaired in reconcile(registry, con, context.run.run_id):
            context.log.warning(f"reconciled v{repaired.version}: {repaired.reasons[-1]}")
        before = registry.champion()
        champion_now = int(before.version) if before else None
        decision, reasons, gates = gated_decision(
            evaluation_report, champion_now,
            missing_lineage(registry.version(candidate.version)),
            settings.gate_relative_tolerance,
        )  # fmt: skip
        record = AuditRecord(
            decided_at=clock.now(settings.data_dir),
            version=candidate.version,
            decision=decision,
            trigger=trigger_of(context),
            reasons=reasons,
            gates=gates,
            dagster_run_id=context.run.run_id,
            data_sha256=candidate.data_sha256,
            previous_champion=champion_now,
            champion_after=candidate.version if decision == "promoted" else champion_now,
            attempt_id=new_attempt_id(),
        )
        execute(registry, con, record)
    return dg.Output(
        {"version": candidate.version, "decision": decision, "reasons": reasons,
         "champion": record.champion_after},
        metadata={
            "decision": decision,
            "candidate_version": dg.MetadataValue.int(candidate.version),
            "champion_before": dg.MetadataValue.int(champion_now or 0),
            "champion_after": dg.MetadataValue.int(record.champion_after or 0),
            "gates": md.gates_table(gates),
            "mlflow_model_version": md.mlflow_version_url(
                mlflow_tracking.ui_url, registry.model_name, candidate.version
            ),
            "reasons": dg.MetadataValue.json(reasons),
            "trigger": record.trigger,
            "attempt_id": record.attempt_id,
        },
    )  # fmt: skip
