"""One month's drift report: the month's features and champion scores against the champion's
drift reference (its training rows of its newest in-time months), the month's AUC once its
outcomes are in, the retrain rule's verdict, the page and JSON under ``reports/drift/<month>/``
and the month's row in ``monitoring.drift``.

Our PSI/KS on every row decide; the page (``ml/drift_page.py``) leads with that verdict and
Evidently draws the same numbers below it. The drift sensor acts on the numbers this returns
(through the asset's metadata). No Dagster import.

The reference side (rows, scores, bins, sorted values) is the same for every month a champion
is judged on, so it is built once per champion and kept for the process: a backfill or the
benchmark pays for it in its first month only. It is keyed by a hash of the reference rows as
they are now (``split_fingerprint``, computed in DuckDB), so a rebuilt feature month is never
judged against a stale reference.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from mlflow.entities.model_registry import ModelVersion

from creditplatform.features.store import STORE, Connect, NoFeatures
from creditplatform.ml import drift_page as page
from creditplatform.ml.drift import DriftSummary, ReferenceProfile
from creditplatform.ml.model import predict_pd
from creditplatform.ml.registry import Registry, load_verified
from creditplatform.ml.retrain_rules import (
    DriftEvidence,
    MonthJudgement,
    MonthPerformance,
    PerformanceRules,
    RetrainRules,
    evaluate,
    judge_month,
    should_retrain,
)
from creditplatform.ml.training_data import load_split, split_fingerprint
from creditplatform.ml.uncertainty import TooFewClasses, auc_interval, calibration_gap
from creditplatform.months import reference_months
from creditplatform.sql import scalar
from creditplatform.warehouse.monitoring import (
    cached_reference_scores,
    hours_since_drift_retrain,
    record_drift,
    store_reference_scores,
)


@dataclass(frozen=True)
class DriftPolicy:
    """What drift is measured against and judged by (from the ``drift_rules`` resource)."""

    rules: RetrainRules
    reference_months: int
    matured_label_share: float
    performance: PerformanceRules
    evidently_always: bool = False  # Evidently's views on every month, not drifted ones only


@dataclass(frozen=True)
class MonthDrift:
    verdict: page.Verdict
    summary: DriftSummary
    new_labelled_rows: int
    champion_test_auc: float | None
    performance: MonthJudgement | None  # None: outcomes not matured (or one class only)
    now: datetime  # the platform's clock: the drift sensor's cooldown is measured in it
    statistics_seconds: float
    page: Path
    shown_features: list[str]
    html_rows: int

    @property
    def within_limits(self) -> bool:
        return self.verdict.within_limits


def month_performance(
    y: pd.Series, scores: np.ndarray, reference: dict[str, float], policy: DriftPolicy
) -> MonthJudgement | None:
    """The champion judged on the month's outcomes (``retrain_rules.judge_month``), once
    (nearly) every outcome is in and each class has the two rows an interval needs; None
    before. ``reference`` is the champion run's metrics (``test_roc_auc``, ``test_roc_auc_se``)."""
    labelled = y.notna()
    if labelled.mean() < policy.matured_label_share or "test_roc_auc" not in reference:
        return None
    outcomes, pds = y[labelled].to_numpy(int), scores[labelled.to_numpy()]
    try:
        auc = auc_interval(outcomes, pds, policy.performance.confidence)
    except TooFewClasses:
        return None
    gap = calibration_gap(outcomes, pds)
    evidence = MonthPerformance(
        auc=auc.value, auc_se=auc.se, reference_auc=reference["test_roc_auc"],
        reference_auc_se=reference.get("test_roc_auc_se", 0.0), observed_rate=gap.observed_rate,
        mean_pd=gap.mean_pd, rate_se=gap.se,
    )  # fmt: skip
    return judge_month(evidence, policy.performance)


@dataclass(frozen=True)
class Reference:
    """The champion's drift reference: its training rows of the reference months and the
    profile (their PDs included) every statistic compares against."""

    rows: pd.DataFrame
    profile: ReferenceProfile


_references: dict[tuple[int, str], Reference] = {}  # the current champion's, per process


def _reference(
    con: duckdb.DuckDBPyConnection, champion: ModelVersion, model: Any, months: list[str]
) -> Reference:
    """The champion's reference for ``months``: from this process's cache while its rows are
    unchanged, else read (and scored, unless its scores are cached in the warehouse)."""
    split_set, version = champion.tags["data_sha256"], int(champion.version)
    key = (version, split_fingerprint(con, split_set, "train", months))
    if key in _references:
        return _references[key]
    rows = load_split(con, split_set, "train", months)
    scores = cached_reference_scores(con, version, key[1])
    if scores is None:
        scores = predict_pd(model, rows)
        store_reference_scores(con, version, key[1], scores)
    _references.clear()
    _references[key] = Reference(rows, ReferenceProfile.build(rows, scores))
    return _references[key]


def report_month(
    connect: Connect,
    registry: Registry,
    champion: ModelVersion,
    month: str,
    policy: DriftPolicy,
    reports_dir: Path,
    now: datetime,
) -> MonthDrift:
    started = time.perf_counter()
    model = load_verified(registry, champion)
    window = champion.tags.get("window", "").split(",")
    version = int(champion.version)
    months = reference_months(window, policy.reference_months)
    with connect() as con:
        reference = _reference(con, champion, model, months)
        current = con.execute(f"SELECT * FROM {STORE} WHERE month = ?", [month]).df()
        new_labelled = scalar(
            con.execute(
                f"SELECT count(TARGET) FROM {STORE} WHERE month > ? AND month <= ?",
                [max(window), month],
            )
        )
        since_retrain = hours_since_drift_retrain(con, now)
    if current.empty:
        raise NoFeatures(f"no features for {month} in {STORE}")
    cur_scores = predict_pd(model, current)
    summary = reference.profile.summarize(current, cur_scores, policy.rules.psi_threshold)
    top = summary.features[0]
    champion_metrics = registry.client().get_run(str(champion.run_id)).data.metrics
    performance = month_performance(current["TARGET"], cur_scores, champion_metrics, policy)
    evidence = DriftEvidence(top.psi, top.feature, summary.prediction_ks_pvalue,
                             int(new_labelled), since_retrain)  # fmt: skip
    conditions = evaluate(evidence, policy.rules)
    stats_seconds = time.perf_counter() - started
    verdict = page.Verdict(
        month=month, champion_version=version, reference_months=months,
        reference_rows=len(reference.rows), current_rows=len(current), max_psi=top.psi,
        max_psi_feature=top.feature, drifted_features=summary.drifted,
        psi_threshold=policy.rules.psi_threshold,
        prediction_ks_pvalue=summary.prediction_ks_pvalue,
        prediction_pvalue=policy.rules.prediction_pvalue,
        retrain=should_retrain(conditions), retrain_reasons=[c.message for c in conditions],
        features_total=len(summary.features),
        month_auc=performance.month_auc if performance else None,
        auc_relative_drop=performance.auc_relative_drop if performance else None,
        performance_degraded=performance.degraded if performance else None,
        performance_reasons=performance.reasons if performance else [],
    )  # fmt: skip
    out_dir = reports_dir / "drift" / month
    out_dir.mkdir(parents=True, exist_ok=True)
    evidently = policy.evidently_always or not verdict.within_limits
    shown, html_rows = page.write_drift_page(
        out_dir / "report.html", verdict, summary.features,
        (reference.rows, reference.profile.scores), (current, cur_scores), evidently,
    )  # fmt: skip
    found = MonthDrift(verdict, summary, int(new_labelled), champion_metrics.get("test_roc_auc"),
                       performance, now, stats_seconds, out_dir / "report.html", shown,
                       html_rows)  # fmt: skip
    (out_dir / "drift.json").write_text(json.dumps(_payload(found), indent=2))
    with connect() as con:
        record_drift(con, _drift_row(found))
    return found


def _evidence(found: MonthDrift) -> dict[str, Any]:
    v = found.verdict
    return {"max_psi": v.max_psi, "max_psi_feature": v.max_psi_feature,
            "prediction_ks_pvalue": v.prediction_ks_pvalue,
            "new_labelled_rows": found.new_labelled_rows,
            "performance": found.performance.as_dict() if found.performance else None}  # fmt: skip


def _payload(found: MonthDrift) -> dict[str, Any]:
    """``drift.json``: what the page shows, as data."""
    v, summary = found.verdict, found.summary
    return {
        "month": v.month, "champion_version": v.champion_version,
        "reference_rows": v.reference_rows, "current_rows": v.current_rows,
        "html_sample_rows": found.html_rows, "html_features": found.shown_features,
        "drifted_features": v.drifted_features, "month_auc": v.month_auc,
        "champion_test_auc": found.champion_test_auc, "auc_relative_drop": v.auc_relative_drop,
        **_evidence(found),
        "features": [d.__dict__ | {"band": summary.band(d)} for d in summary.features],
    }  # fmt: skip


def _drift_row(found: MonthDrift) -> dict[str, Any]:
    """The month's row of ``monitoring.drift`` (column order of the table)."""
    v = found.verdict
    return {
        "month": v.month, "computed_at": datetime.now(UTC), "champion_version": v.champion_version,
        "max_psi": v.max_psi, "max_psi_feature": v.max_psi_feature,
        "drifted_features": json.dumps(v.drifted_features),
        "prediction_ks_pvalue": v.prediction_ks_pvalue,
        "new_labelled_rows": found.new_labelled_rows, "month_auc": v.month_auc,
        "auc_relative_drop": v.auc_relative_drop, "retrain_evidence": json.dumps(_evidence(found)),
    }  # fmt: skip
