"""The evidence behind every automated decision, as pure functions: DeLong's AUC variance and
paired test (against its definition), the stratified bootstrap, the calibration gap, and the
performance rule that needs a significant shortfall, at and around each of its edges."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from creditplatform.ml.degradation import choose
from creditplatform.ml.gates import evidence_gate
from creditplatform.ml.retrain_rules import (
    MonthPerformance,
    PerformanceRules,
    judge_month,
    performance_action,
)
from creditplatform.ml.uncertainty import (
    TooFewClasses,
    auc_interval,
    calibration_gap,
    delong,
    paired_auc_difference,
    stratified_bootstrap,
)

RULES = PerformanceRules(relative_drop=0.03, calibration_gap=0.20, confidence=0.95,
                         consecutive_months=2, degraded_months=3)  # fmt: skip


def _scored(n: int, seed: int, ties: bool = True):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.1).astype(int)
    p = 1 / (1 + np.exp(-(-2.2 + 1.2 * y + rng.normal(0, 1, n))))
    q = 1 / (1 + np.exp(-(-2.2 + 0.8 * y + rng.normal(0, 1, n))))
    return y, (np.round(p, 2) if ties else p), q  # rounding makes ties, as isotonic steps do


def _delong_by_definition(y, scores):
    """DeLong et al. (1988) written out: the placement values over every pair, O(m·n)."""
    pos, neg = [s[y == 1] for s in scores], [s[y == 0] for s in scores]
    m, n = len(pos[0]), len(neg[0])
    psi = [(p[:, None] > q[None, :]) + 0.5 * (p[:, None] == q[None, :]) for p, q in
           zip(pos, neg, strict=True)]  # fmt: skip
    v10 = np.array([k.mean(axis=1) for k in psi])  # per default
    v01 = np.array([k.mean(axis=0) for k in psi])  # per non-default
    return np.array([k.mean() for k in psi]), np.cov(v10) / m + np.cov(v01) / n


def test_delong_matches_its_definition_and_sklearn_with_ties():
    y, p, q = _scored(700, 1)
    aucs, cov = delong(y, [p, q])
    expected_aucs, expected_cov = _delong_by_definition(y, [p, q])
    np.testing.assert_allclose(aucs, expected_aucs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(cov, expected_cov, rtol=1e-9, atol=1e-15)
    assert aucs[0] == pytest.approx(roc_auc_score(y, p), abs=1e-12)


def test_auc_interval_brackets_the_estimate_and_shrinks_with_the_sample():
    small, large = (
        auc_interval(*_scored(800, 2)[:2], 0.95),
        auc_interval(*_scored(8000, 2)[:2], 0.95),
    )
    for found in (small, large):
        assert found.lo < found.value < found.hi
    assert large.hi - large.lo < (small.hi - small.lo) / 2  # ~1/sqrt(10) of the width


def test_interval_coverage_is_near_its_level():
    """Across 200 independent samples, the 95% interval holds the true AUC about 95% of the
    time (the true AUC of this simulation computed on one very large sample)."""
    truth = roc_auc_score(*_scored(400_000, 99, ties=False)[:2])
    covered = sum(
        found.lo <= truth <= found.hi
        for found in (auc_interval(*_scored(1500, seed, ties=False)[:2], 0.95)
                      for seed in range(200))
    )  # fmt: skip
    assert 180 <= covered <= 199  # binomial(200, 0.95): 5th-95th percentile is 185-195


def test_paired_test_of_identical_scores_finds_nothing():
    y, p, _ = _scored(500, 3)
    same = paired_auc_difference(y, p, p.copy(), 0.95)
    assert (same.difference, same.se, same.p_value, same.lo, same.hi) == (0.0, 0.0, 1.0, 0.0, 0.0)


def test_paired_test_separates_a_better_model_on_enough_rows():
    y, p, q = _scored(6000, 4)
    better = paired_auc_difference(y, p, q, 0.95)
    assert better.difference > 0 and better.lo > 0 and better.p_value < 0.001
    reverse = paired_auc_difference(y, q, p, 0.95)
    assert reverse.difference == pytest.approx(-better.difference)
    assert reverse.p_value == pytest.approx(better.p_value)


def test_perfect_separation_has_zero_variance():
    y = np.array([0, 0, 0, 1, 1, 1])
    found = auc_interval(y, np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9]), 0.95)
    assert (found.value, found.se, found.lo, found.hi) == (1.0, 0.0, 1.0, 1.0)
    worse = paired_auc_difference(y, np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9]),
                                  np.array([0.1, 0.8, 0.3, 0.7, 0.2, 0.9]), 0.95)  # fmt: skip
    assert worse.difference > 0


@pytest.mark.parametrize("defaults", [0, 1])
def test_too_few_defaults_is_an_error_not_a_number(defaults):
    y = np.array([1] * defaults + [0] * 50)
    with pytest.raises(TooFewClasses, match=f"{defaults} defaults"):
        auc_interval(y, np.linspace(0, 1, len(y)), 0.95)


def test_bootstrap_is_reproducible_and_brackets_the_point():
    y, p, q = _scored(3000, 5)
    first = stratified_bootstrap(y, {"a": p, "b": q}, 0.95, seed=7, resamples=300)
    assert first == stratified_bootstrap(y, {"a": p, "b": q}, 0.95, seed=7, resamples=300)
    lo, hi = first["a"]["brier"]
    assert lo < np.mean((p - y) ** 2) < hi
    lo, hi = first["a"]["ece"]
    assert 0 <= lo < hi


def test_calibration_gap_under_the_model():
    p = np.full(10_000, 0.1)
    y = np.zeros(10_000, dtype=int)
    y[:1500] = 1
    gap = calibration_gap(y, p)
    assert gap.relative_gap == pytest.approx(0.5)
    assert gap.se == pytest.approx(np.sqrt(10_000 * 0.09) / 10_000)


def month(**change) -> MonthPerformance:
    base = dict(auc=0.78, auc_se=0.015, reference_auc=0.78, reference_auc_se=0.015,
                observed_rate=0.08, mean_pd=0.08, rate_se=0.005)  # fmt: skip
    return MonthPerformance(**{**base, **change})


def test_a_point_drop_past_the_threshold_that_is_noise_is_not_degraded():
    """The stable-month case: a 4.3% point drop at 3,000 applications a month."""
    verdict = judge_month(month(auc=0.78 * (1 - 0.043)), RULES)
    assert verdict.auc_relative_drop == pytest.approx(0.043)
    assert not verdict.degraded and verdict.auc_shortfall_lower < 0
    assert "not significant" in verdict.reasons[0]


def test_a_significant_drop_past_the_threshold_is_degraded():
    verdict = judge_month(month(auc=0.70, auc_se=0.01, reference_auc_se=0.01), RULES)
    assert verdict.degraded and verdict.auc_shortfall_lower > 0
    assert "significant" in verdict.reasons[0]


def test_a_significant_drop_below_the_threshold_is_not_degraded():
    """Huge samples make a 2% drop significant; it is still under the configured drop."""
    verdict = judge_month(month(auc=0.78 * 0.98, auc_se=0.0001, reference_auc_se=0.0001), RULES)
    assert verdict.auc_shortfall_lower > 0 and not verdict.degraded


def test_exactly_at_the_relative_drop_with_zero_variance_is_degraded():
    verdict = judge_month(month(auc=0.78 * (1 - 0.03), auc_se=0.0, reference_auc_se=0.0), RULES)
    assert verdict.auc_relative_drop == pytest.approx(0.03)
    assert verdict.degraded  # inclusive at the threshold, and certain


def test_a_zero_shortfall_with_zero_variance_is_not_degraded():
    assert not judge_month(month(auc_se=0.0, reference_auc_se=0.0), RULES).degraded


@pytest.mark.parametrize("observed", [0.14, 0.03])  # defaults up (concept shift) or down
def test_a_significant_calibration_gap_either_way_is_degraded(observed):
    verdict = judge_month(month(observed_rate=observed), RULES)
    assert verdict.degraded and "default rate" in verdict.reasons[1]


def test_a_calibration_gap_inside_the_noise_is_not_degraded():
    assert not judge_month(month(observed_rate=0.097, rate_se=0.02), RULES).degraded


@pytest.mark.parametrize(
    ("counts", "passed", "reason"),
    [
        ({"test": (50, 50), "oot": (50, 50)}, True, "evidence: 50 defaults / 50 non-defaults"),
        ({"test": (49, 900), "oot": (80, 900)}, False,
         "insufficient evidence: 49 defaults in test (needs 50)"),
        ({"test": (60, 900), "oot": (80, 10)}, False,
         "insufficient evidence: 10 non-defaults in oot (needs 50)"),
    ],
)  # fmt: skip
def test_evidence_gate_at_and_below_the_minimum(counts, passed, reason):
    gate = evidence_gate(counts, 50)
    assert gate.passed is passed and gate.reason.startswith(reason)


def test_an_earlier_version_replaces_the_champion_only_with_evidence():
    y, good, worse = _scored(4000, 8)
    rng = np.random.default_rng(8)
    noisy = good + rng.normal(0, 0.002, len(good))  # the same ranking, give or take
    chosen, found = choose(3, y, {3: worse, 1: noisy, 2: good}, 0.95)
    assert chosen in (1, 2) and all(c.better_with_evidence for c in found)
    assert chosen == max(found, key=lambda c: c.auc).version
    kept, found = choose(3, y, {3: good, 2: noisy}, 0.95)
    assert kept is None and not found[0].better_with_evidence  # no better with evidence
    alone, found = choose(3, y, {3: good}, 0.95)
    assert (alone, found) == (None, [])  # nothing earlier: the champion stays


@pytest.mark.parametrize(
    ("degraded", "asked", "kind", "months"),
    [
        ({"2025-01": True}, None, None, []),  # one degraded month: alert only
        ({"2025-01": True, "2025-02": True}, None, "retrain", ["2025-02"]),
        ({"2025-01": True, "2025-02": False}, None, None, []),  # judged fine this month
        ({"2024-12": True, "2025-01": True, "2025-02": True}, None, "review",
         ["2024-12", "2025-01", "2025-02"]),  # degraded_months in a row
        ({"2025-01": True, "2025-02": True}, "2025-01", "review", ["2025-01", "2025-02"]),
        ({"2025-01": True, "2025-02": True}, "2025-02", "retrain", ["2025-02"]),  # same month
    ],
)  # fmt: skip
def test_performance_action(degraded, asked, kind, months):
    action = performance_action(degraded, "2025-02", asked, RULES)
    assert (action.kind, action.months) == (kind, months)
