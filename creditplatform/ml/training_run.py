"""The retrain steps as plain functions: split the window, train and register a candidate,
evaluate it against the champion and the baseline on the same rows.

Each takes a warehouse connection factory (``connect``) and the registry, so the Dagster assets
only pass their resources in and show what comes back, and each can be run from a test or a
notebook without Dagster. The warehouse is held only while rows are read or written, never
while a model fits. No Dagster import.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import mlflow
from mlflow.entities import Metric

from creditplatform.crashpoints import crashpoint
from creditplatform.features.catalog import FEATURE_SCHEMA_VERSION, FEATURES
from creditplatform.features.store import STORE, Connect
from creditplatform.ml import evaluation as ev
from creditplatform.ml.lineage import frame_sha256
from creditplatform.ml.metrics import classification_metrics
from creditplatform.ml.model import predict_pd, train
from creditplatform.ml.policies import MetricPolicy, SplitPolicy
from creditplatform.ml.reason_codes import reference_values
from creditplatform.ml.records import CandidateInfo, EvaluationInfo, ModelParams, SplitsInfo
from creditplatform.ml.registry import (
    Registry,
    artifact_sha256,
    load_verified,
    load_verified_baseline,
    log_pd_model,
    log_sklearn_model,
    register,
)
from creditplatform.ml.splits import (
    SplitCheck,
    assign_splits,
    check_splits,
    history_shortfall,
    matured_months,
)
from creditplatform.ml.training_data import label_share_by_month, load_split, save_splits
from creditplatform.provenance import commit


class CannotTrain(Exception):
    """Training may not run (too little history, rows changed): a retry would change nothing."""


@dataclass(frozen=True)
class SplitOutcome:
    info: SplitsInfo
    checks: list[SplitCheck]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def split_window(connect: Connect, policy: SplitPolicy, has_champion: bool) -> SplitOutcome:
    """Split the newest matured months by applicant; saved only when every split check passes."""
    with connect() as con:
        matured = matured_months(label_share_by_month(con), policy.matured_label_share)
        window = matured[-policy.training_window_months :]
        problem = history_shortfall(len(window), has_champion, policy.min_training_months)
        if problem:
            raise CannotTrain(f"{problem}; matured: {matured or 'none'}")
        marks = ", ".join("?" * len(window))
        features = con.execute(f"SELECT * FROM {STORE} WHERE month IN ({marks})", window).df()
        splits = assign_splits(features, window, policy.seed, policy.valid_share, policy.test_share)
        checks = check_splits(splits)
        split_set = frame_sha256(
            features.merge(splits.loc[splits["split"] == "train", ["SK_ID_CURR"]])
        )
        if all(c.passed for c in checks):
            save_splits(con, split_set, splits)
    counts = {str(k): int(v) for k, v in splits["split"].value_counts().items()}
    rates = {str(k): float(v) for k, v in splits.groupby("split")["TARGET"].mean().round(5).items()}
    return SplitOutcome(SplitsInfo(split_set, window, window[-1], counts, rates, policy.seed),
                        checks)  # fmt: skip


@dataclass(frozen=True)
class RunFacts:
    """Which orchestrator run asks, why, and when by the platform's clock (for lineage tags)."""

    run_id: str
    run_url: str
    trigger: str
    now: datetime
    reason: str = ""  # a person's words (``retrain --reason``), tagged on the MLflow run


@dataclass(frozen=True)
class TrainedCandidate:
    info: CandidateInfo
    experiment_id: str
    artifact_sha256: str
    trained_at: str


def train_candidate(
    connect: Connect,
    registry: Registry,
    splits: SplitsInfo,
    params: ModelParams,
    scoring: MetricPolicy,
    run: RunFacts,
) -> TrainedCandidate:
    """Fit the PD model and the baseline, log both into the active MLflow run (the Dagster
    run's, ``defs/mlflow_run.py``) and register the model with its lineage tags (data hash,
    window, schema version, commit, orchestrator run), which the run carries too."""
    active = mlflow.active_run()
    if active is None:
        raise CannotTrain("no active MLflow run: candidate_model needs the `mlflow` resource")
    with connect() as con:
        train_x = load_split(con, splits.split_set, "train")
        valid_x = load_split(con, splits.split_set, "valid")
    if frame_sha256(train_x) != splits.data_sha256:
        raise CannotTrain("training rows changed since training_splits ran; re-run the splits")
    train_y, valid_y = train_x["TARGET"].to_numpy(int), valid_x["TARGET"].to_numpy(int)
    trained_at = run.now.isoformat(timespec="seconds")
    tags = {
        "data_sha256": splits.data_sha256, "training_rows": str(len(train_x)),
        "label_rate": f"{train_y.mean():.6f}",
        "feature_schema_version": str(FEATURE_SCHEMA_VERSION), "git_commit": commit(),
        "dagster_run_id": run.run_id, "dagster_run_url": run.run_url,
        "trigger": run.trigger, "window": ",".join(splits.window), "trained_at": trained_at,
        **({"reason": run.reason} if run.reason else {}),
    }  # fmt: skip
    mlflow.set_tags(tags)
    crashpoint("fit")
    models = train(train_x, train_y, valid_x, valid_y, params)
    mlflow.log_params(params.as_dict())
    for label, model in (("model", models.model), ("baseline", models.baseline)):
        metrics = classification_metrics(
            valid_y, predict_pd(model, valid_x), scoring.policy_threshold,
            scoring.precision_at_k_share,
        )  # fmt: skip
        mlflow.log_metrics({f"valid_{label}_{k}": v for k, v in metrics.items()})
    reference = reference_values(train_x)
    logged = log_pd_model(models.model, "model", reference)
    baseline = log_sklearn_model(models.baseline, "baseline", reference)
    version = register(registry, logged.model_uri, {
        **tags, "baseline_uri": baseline.model_uri,
        "baseline_sha256": artifact_sha256(baseline.model_uri),
    })  # fmt: skip
    info = CandidateInfo(
        version=int(version.version), mlflow_run_id=active.info.run_id,
        model_uri=f"models:/{registry.model_name}/{version.version}",
        baseline_uri=baseline.model_uri, data_sha256=splits.data_sha256,
        training_rows=len(train_x), label_rate=float(train_y.mean()),
        feature_schema_version=FEATURE_SCHEMA_VERSION, window=splits.window,
        oot_month=splits.oot_month, trigger=run.trigger, params=params.as_dict(),
    )  # fmt: skip
    return TrainedCandidate(info, active.info.experiment_id,
                            version.tags.get("artifact_sha256", ""), trained_at)  # fmt: skip


def mlflow_metrics(report: ev.Report) -> dict[str, dict[str, float]]:
    """The candidate's numbers per set as MLflow metrics: intervals as ``*_ci_lo``/``*_ci_hi``,
    paired differences as ``auc_diff_vs_<model>`` (with ``_ci_lo``, ``_ci_hi``, ``_p_value``)."""
    found: dict[str, dict[str, float]] = {}
    for set_name, per_model in report.metrics.items():
        values = per_model["candidate"]
        out = {k: v for k, v in ev.scalars(values).items() if v == v}  # NaN: no interval
        for key, ci in values.items():
            if key.endswith("_ci") and ci:
                out[f"{key}_lo"], out[f"{key}_hi"] = ci
        for name, pair in report.comparisons.get(set_name, {}).items():
            if "difference" in pair:
                tag = f"auc_diff_vs_{name.removeprefix('candidate_vs_')}"
                out[tag], out[f"{tag}_p_value"] = pair["difference"], pair["p_value"]
                out[f"{tag}_ci_lo"], out[f"{tag}_ci_hi"] = pair["ci"]
        found[set_name] = out
    return found


@dataclass
class Evaluated:
    info: EvaluationInfo
    report: ev.Report
    files: dict[str, Path]
    experiment_id: str


def evaluate_candidate(
    connect: Connect,
    registry: Registry,
    candidate: CandidateInfo,
    scoring: MetricPolicy,
    seed: int,
    reports_dir: Path,
    run_id: str,
) -> Evaluated:
    """Candidate, champion (if another version) and baseline scored on the same test and
    out-of-time rows; the report is written under ``reports/evaluation/v<N>/``, logged to the
    candidate's MLflow run, and its test/oot metrics logged there too."""
    client = registry.client()
    candidate_version = registry.version(candidate.version)
    models = {"candidate": load_verified(registry, candidate_version)}
    champion = registry.champion()
    if champion is not None and int(champion.version) != candidate.version:
        models["champion"] = load_verified(registry, champion)
    else:
        champion = None
    models["baseline"] = load_verified_baseline(registry, candidate_version)
    with connect() as con:
        frames = {s: load_split(con, candidate.data_sha256, s) for s in ("test", "oot", "valid")}
    sets = [
        ev.ScoredSet(name, frames[name]["TARGET"].to_numpy(int),
                     {label: predict_pd(m, frames[name]) for label, m in models.items()})
        for name in ("test", "oot")
    ]  # fmt: skip
    report = ev.Report(ev.score_sets(sets, scoring.policy_threshold, scoring.precision_at_k_share))
    report.comparisons = ev.add_uncertainty(report.metrics, sets, scoring.evidence_confidence, seed)
    report.plots = ev.plot_curves(sets[0])
    valid = frames["valid"]
    report.importances = ev.feature_importances(
        models["candidate"], valid[list(FEATURES)], valid["TARGET"].to_numpy(int), seed
    )
    report.plots["feature_importance"] = ev.plot_importances(report.importances)
    facts = {
        "candidate version": candidate.version,
        "champion version": champion.version if champion else "none",
        "training window": ", ".join(candidate.window),
        "out-of-time month": candidate.oot_month,
        "data SHA-256": candidate.data_sha256,
        "test rows": len(frames["test"]),
        "oot rows": len(frames["oot"]),
        "dagster run": run_id,
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    out_dir = reports_dir / "evaluation" / f"v{candidate.version}"
    files = ev.write_report(report, out_dir, f"Evaluation of model v{candidate.version}", facts)
    client.log_artifacts(candidate.mlflow_run_id, str(out_dir), "evaluation")
    now = int(time.time() * 1000)
    client.log_batch(candidate.mlflow_run_id, metrics=[
        Metric(f"{set_name}_{metric}", value, now, 0)
        for set_name, values in mlflow_metrics(report).items()
        for metric, value in values.items()
    ])  # fmt: skip
    info = EvaluationInfo(candidate, int(champion.version) if champion else None,
                          report.metrics, str(out_dir), report.comparisons)  # fmt: skip
    experiment_id = client.get_run(candidate.mlflow_run_id).info.experiment_id
    return Evaluated(info, report, files, experiment_id)
