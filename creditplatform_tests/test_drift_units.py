"""Drift statistics and the retrain rule, checked against values worked out by hand."""

import math

import numpy as np
import pandas as pd
import pytest

from creditplatform.ml.drift import (
    EPSILON,
    DriftSummary,
    FeatureDrift,
    feature_drift,
    ks_test,
    psi_categorical,
    psi_numeric,
    quantile_edges,
)
from creditplatform.ml.retrain_rules import (
    DriftEvidence,
    RetrainRules,
    evaluate,
    should_retrain,
    skip_reason,
)


def test_identical_samples_have_zero_psi():
    values = np.arange(100, dtype=float)
    assert psi_numeric(values, values) == pytest.approx(0.0)


def test_psi_by_hand_on_two_bins():
    # Reference 0..9: with bins=2 the median 4.5 is the only edge; shares 0.5 / 0.5 (+0 missing).
    reference = np.arange(10, dtype=float)
    assert list(quantile_edges(reference, bins=2)) == [4.5]
    # Current: 8 values below the edge, 2 above -> shares 0.8 / 0.2.
    current = np.array([0, 1, 2, 3, 0, 1, 2, 3, 7, 8], dtype=float)
    expected = (0.8 - 0.5) * math.log(0.8 / 0.5) + (0.2 - 0.5) * math.log(0.2 / 0.5)
    assert psi_numeric(reference, current, bins=2) == pytest.approx(expected)


def test_missing_values_are_their_own_bin_with_the_epsilon_floor():
    reference = np.arange(10, dtype=float)
    current = np.array([0, 1, 2, 3, 4, 5, 6, 7, np.nan, np.nan])  # 20% missing, 0% before
    shares_ref = np.array([0.5, 0.5, 0.0])
    shares_cur = np.array([0.5, 0.3, 0.2])
    r, c = np.maximum(shares_ref, EPSILON), np.maximum(shares_cur, EPSILON)
    expected = float(np.sum((c - r) * np.log(c / r)))
    assert psi_numeric(reference, current, bins=2) == pytest.approx(expected)


def test_categorical_psi_by_hand_with_a_new_level():
    reference = pd.Series(["a"] * 5 + ["b"] * 5)
    current = pd.Series(["a"] * 5 + ["b"] * 3 + ["c"] * 2)
    r = np.array([0.5, 0.5, EPSILON])
    c = np.array([0.5, 0.3, 0.2])
    assert psi_categorical(reference, current) == pytest.approx(
        float(np.sum((c - r) * np.log(c / r)))
    )


def test_ks_detects_a_shift_and_not_a_copy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=2000)
    assert ks_test(a, a.copy())[1] == pytest.approx(1.0)
    statistic, pvalue = ks_test(a, a + 0.5)
    assert statistic > 0.15 and pvalue < 1e-6


def test_feature_drift_ranks_the_shifted_feature_first():
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"x": rng.lognormal(11, 0.5, 5000), "y": rng.normal(size=5000),
                              "k": rng.choice(["p", "q"], 5000, p=[0.9, 0.1])})  # fmt: skip
    current = reference.assign(x=reference["x"] * 1.6)
    drifts = feature_drift(reference, current, ["x", "y"], ["k"])
    summary = DriftSummary(drifts, ["x"], 0.5, psi_threshold=0.2)
    assert drifts[0].feature == "x" and summary.band(drifts[0]) == "significant"
    assert {d.feature: summary.band(d) for d in drifts[1:]} == {"y": "stable", "k": "stable"}


def test_psi_bands_follow_the_configured_threshold():
    """The page's bands read PSI by the rule's own threshold: raising the threshold to 0.3
    makes a 0.22 feature minor rather than significant."""
    drift = FeatureDrift("x", "numeric", 0.22, None, None)
    assert DriftSummary([drift], ["x"], 0.5, psi_threshold=0.2).band(drift) == "significant"
    assert DriftSummary([drift], [], 0.5, psi_threshold=0.3).band(drift) == "minor"
    assert DriftSummary([drift], [], 0.5, psi_threshold=0.5).band(drift) == "stable"


EVIDENCE = DriftEvidence(max_psi=0.35, max_psi_feature="AMT_INCOME_TOTAL",
                         prediction_ks_pvalue=0.001, new_labelled_rows=500,
                         hours_since_last_retrain=None)  # fmt: skip
# The rule with the numbers the tests below were worked out for (the shipped defaults).
RULES = RetrainRules(
    psi_threshold=0.20, prediction_pvalue=0.05, min_new_labelled_rows=50, cooldown_hours=24.0
)


def test_all_conditions_hold_so_retrain():
    conditions = evaluate(EVIDENCE, RULES)
    assert should_retrain(conditions)
    assert [c.name for c in conditions] == [
        "feature_psi",
        "prediction_drift",
        "new_labels",
        "cooldown",
    ]


@pytest.mark.parametrize(
    ("change", "failed", "text"),
    [
        ({"max_psi": 0.15}, "feature_psi", "short by 0.050"),
        ({"prediction_ks_pvalue": 0.2}, "prediction_drift", "p-value 0.2 vs required < 0.05"),
        ({"new_labelled_rows": 49}, "new_labels", "49 new labelled rows vs required >= 50"),
        ({"hours_since_last_retrain": 3.0}, "cooldown", "3.0 h since the last drift retrain"),
    ],
)
def test_each_failed_condition_blocks_and_is_named(change, failed, text):
    conditions = evaluate(DriftEvidence(**{**EVIDENCE.__dict__, **change}), RULES)
    assert not should_retrain(conditions)
    assert [c.name for c in conditions if not c.passed] == [failed]
    assert failed in skip_reason(conditions) and text in skip_reason(conditions)


def test_boundaries_are_inclusive_where_the_design_says():
    at_limit = DriftEvidence(0.20, "x", 0.0499, 50, 24.0)
    assert should_retrain(evaluate(at_limit, RULES))
    assert not should_retrain(evaluate(DriftEvidence(0.20, "x", 0.05, 50, 24.0), RULES))


def test_evidently_page_shows_the_top_features_and_every_drifted_one():
    from types import SimpleNamespace

    from creditplatform.ml.drift_page import HTML_TOP_FEATURES, html_features

    psis = [0.3] * 25 + [0.05] * 15  # sorted, largest first; 25 drifted, more than the top
    drifts = [SimpleNamespace(feature=f"f{rank}", psi=psi) for rank, psi in enumerate(psis)]
    assert html_features(drifts, 0.2) == [f"f{rank}" for rank in range(25)]
    calm = [SimpleNamespace(feature=d.feature, psi=0.01) for d in drifts]
    assert html_features(calm, 0.2) == [f"f{rank}" for rank in range(HTML_TOP_FEATURES)]
