"""When drift justifies a retrain (docs/architecture.md §4): every condition must hold (strict
AND).

A feature's PSI at or above the threshold, AND prediction drift (KS p-value of current vs
reference scores) below its limit, AND enough labelled rows newer than the champion's training
window, AND the cooldown since the last drift-triggered retrain. The numbers are settings
(``creditplatform/settings.py``); this module keeps none of its own. Each condition reports what
was observed and what was required, so a skip says exactly which condition failed and by how
much.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def performance_retrain(
    drops: dict[str, float], month: str, relative_drop: float, consecutive: int
) -> bool:
    """The performance rule: the champion's AUC on each of the last ``consecutive`` matured
    months (``month`` and the ones before it) is at least ``relative_drop`` below its test AUC.
    ``drops`` maps a month to that relative drop; a month without one does not count."""
    window = [add_months(month, -i) for i in range(consecutive)]
    return all(drops.get(m, 0.0) >= relative_drop for m in window)
