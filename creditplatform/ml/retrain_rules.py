"""When drift or falling performance justifies a retrain (docs/architecture.md §4).

Drift: every condition must hold (strict AND).

A feature's PSI at or above the threshold, AND prediction drift (KS p-value of current vs
reference scores) below its limit, AND enough labelled rows newer than the champion's training
window, AND the cooldown since the last drift-triggered retrain. The numbers are settings
(``creditplatform/settings.py``); this module keeps none of its own. Each condition reports what
was observed and what was required, so a skip says exactly which condition failed and by how
much.

Performance: a matured month is *degraded* when the champion, on that month's outcomes, either
ranks worse — its AUC at least ``relative_drop`` below its own test AUC *and* the shortfall
significant (the one-sided lower confidence bound of test AUC − month AUC above zero, with both
AUCs' DeLong variances: they come from different applicants) — or is miscalibrated — the
observed default rate at least ``calibration_gap`` (relative) from the mean PD *and* the gap
significant under the model's own variance. A point estimate alone decides nothing: at 3,000
applications a month a stable month's AUC moves by ±3%. ``consecutive_months`` degraded months
in a row retrain; ``degraded_months`` in a row (or a performance retrain rejected) start the
degradation review (``ml/degradation.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from creditplatform.months import add_months


@dataclass(frozen=True)
class RetrainRules:
    psi_threshold: float
    prediction_pvalue: float
    min_new_labelled_rows: int
    cooldown_hours: float


@dataclass(frozen=True)
class DriftEvidence:
    max_psi: float
    max_psi_feature: str | None
    prediction_ks_pvalue: float
    new_labelled_rows: int
    hours_since_last_retrain: float | None  # None: never retrained for drift


@dataclass(frozen=True)
class Condition:
    name: str
    passed: bool
    message: str


def evaluate(evidence: DriftEvidence, rules: RetrainRules) -> list[Condition]:
    e, r = evidence, rules
    psi_ok = e.max_psi >= r.psi_threshold
    psi = f"max PSI {e.max_psi:.3f} ({e.max_psi_feature}) vs required >= {r.psi_threshold:.2f}"
    if not psi_ok:
        psi += f" (short by {r.psi_threshold - e.max_psi:.3f})"
    p_ok = e.prediction_ks_pvalue < r.prediction_pvalue
    p_text = (
        f"prediction KS p-value {e.prediction_ks_pvalue:.4g} vs required < {r.prediction_pvalue}"
    )
    since = e.hours_since_last_retrain
    cooled = since is None or since >= r.cooldown_hours
    cooldown = (
        "no drift retrain yet"
        if since is None
        else f"{since:.1f} h since the last drift retrain vs required >= {r.cooldown_hours:.0f} h"
    )
    labels_ok = e.new_labelled_rows >= r.min_new_labelled_rows
    labels = f"{e.new_labelled_rows} new labelled rows vs required >= {r.min_new_labelled_rows}"
    return [
        Condition("feature_psi", psi_ok, psi),
        Condition("prediction_drift", p_ok, p_text),
        Condition("new_labels", labels_ok, labels),
        Condition("cooldown", cooled, cooldown),
    ]


def should_retrain(conditions: list[Condition]) -> bool:
    return all(c.passed for c in conditions)


def skip_reason(conditions: list[Condition]) -> str:
    failed = [c for c in conditions if not c.passed]
    return "no retrain: " + "; ".join(f"{c.name} failed — {c.message}" for c in failed)


_SLACK = 1e-12  # thresholds are inclusive; this absorbs float rounding of the boundary


@dataclass(frozen=True)
class PerformanceRules:
    relative_drop: float
    calibration_gap: float
    confidence: float
    consecutive_months: int
    degraded_months: int


@dataclass(frozen=True)
class MonthPerformance:
    """A matured month's outcomes under the champion, and the champion's own test AUC."""

    auc: float
    auc_se: float
    reference_auc: float
    reference_auc_se: float  # 0.0 for a champion evaluated before intervals were recorded
    observed_rate: float
    mean_pd: float
    rate_se: float  # of the observed rate under the model (Poisson-binomial)


@dataclass(frozen=True)
class MonthJudgement:
    degraded: bool
    month_auc: float
    auc_relative_drop: float
    auc_shortfall_lower: float  # one-sided lower bound of test AUC − month AUC
    calibration_gap: float  # (observed − mean PD) / mean PD
    calibration_gap_lower: float  # one-sided lower bound of |observed − mean PD|
    reasons: list[str]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def judge_month(e: MonthPerformance, rules: PerformanceRules) -> MonthJudgement:
    z = NormalDist().inv_cdf(rules.confidence)
    shortfall = e.reference_auc - e.auc
    drop = shortfall / e.reference_auc
    lower = shortfall - z * (e.auc_se**2 + e.reference_auc_se**2) ** 0.5
    auc_bad = drop >= rules.relative_drop - _SLACK and lower > 0
    gap = (e.observed_rate - e.mean_pd) / e.mean_pd
    gap_lower = abs(e.observed_rate - e.mean_pd) - z * e.rate_se
    calibration_bad = abs(gap) >= rules.calibration_gap - _SLACK and gap_lower > 0
    level = f"{rules.confidence:.0%} one-sided"
    reasons = [
        f"AUC {e.auc:.4f} vs champion test AUC {e.reference_auc:.4f}: {drop:+.1%} relative drop "
        f"(degraded at >= {rules.relative_drop:.0%}); shortfall {shortfall:+.4f}, {level} lower "
        f"bound {lower:+.4f} ({'significant' if lower > 0 else 'not significant'})",
        f"default rate {e.observed_rate:.2%} vs mean PD {e.mean_pd:.2%}: gap {gap:+.1%} "
        f"(degraded at >= {rules.calibration_gap:.0%} either way); {level} lower bound of "
        f"|gap| {gap_lower:+.4f} ({'significant' if gap_lower > 0 else 'not significant'})",
    ]
    return MonthJudgement(auc_bad or calibration_bad, e.auc, drop, lower, gap, gap_lower, reasons)


def degraded_in_a_row(degraded: dict[str, bool], month: str, months: int) -> bool:
    """``month`` and the ``months - 1`` before it were all judged degraded (a month without a
    judgement does not count)."""
    window = [add_months(month, -i) for i in range(months)]
    return all(degraded.get(m, False) for m in window)


@dataclass(frozen=True)
class PerformanceAction:
    kind: str | None  # "retrain", "review" (sustained degradation) or None
    months: list[str]  # a review's degraded months (the latest ``degraded_months`` of them)


def performance_action(
    degraded: dict[str, bool], month: str, retrain_asked: str | None, rules: PerformanceRules
) -> PerformanceAction:
    """What one champion's verdicts call for at ``month``. ``degraded`` holds its verdicts by
    month; ``retrain_asked`` the month a performance retrain was requested to replace it (None:
    never). Sustained degradation — ``degraded_months`` in a row, or still degraded after that
    retrain (it was rejected) — asks for the review; else ``consecutive_months`` in a row asks
    for a retrain."""
    if not degraded.get(month):
        return PerformanceAction(None, [])
    after_retrain = retrain_asked is not None and month > retrain_asked
    if degraded_in_a_row(degraded, month, rules.degraded_months) or after_retrain:
        bad = sorted(m for m, is_bad in degraded.items() if is_bad and m <= month)
        return PerformanceAction("review", bad[-rules.degraded_months :])
    if degraded_in_a_row(degraded, month, rules.consecutive_months):
        return PerformanceAction("retrain", [month])
    return PerformanceAction(None, [])


def retrain_hold(challenger: int | None, requested: str | None = None) -> str | None:
    """Why a retrain the rules call for is not requested now (None: request it).

    One candidate at a time. A challenger in shadow is already the answer to what the monitors
    saw: another retrain would replace it before its canary could decide (and, while a person
    reviews a held one, it would replace the model under review). Nor does a second report
    judged in the same pass ask again once a retrain is requested (``requested``: which).
    """
    if challenger is not None:
        return f"challenger v{challenger} is in shadow: its canary decides before another retrain"
    if requested is not None:
        return f"a retrain was already requested ({requested}): one candidate at a time"
    return None
