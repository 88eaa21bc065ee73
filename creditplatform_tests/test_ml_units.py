"""Pure ML pieces: metrics by hand, gate boundaries, split checks on tampered input, hashing,
leakage through preprocessing, and bit-for-bit reproducible training."""

import numpy as np
import pandas as pd
import pytest

from creditplatform.features.catalog import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from creditplatform.ml.gates import GatePolicy, decide
from creditplatform.ml.lineage import frame_sha256
from creditplatform.ml.metrics import classification_metrics, expected_calibration_error
from creditplatform.ml.model import ModelParams, gradient_boosting, predict_pd, train
from creditplatform.ml.splits import assign_splits, check_splits, hash_bucket


def test_ece_with_equal_mass_bins_by_hand():
    # Two bins of two: predicted means 0.1 and 0.8, observed rates 0.0 and 1.0.
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.1, 0.7, 0.9])
    assert expected_calibration_error(y, p, bins=2) == pytest.approx(0.5 * 0.1 + 0.5 * 0.2)


def test_ranking_metrics_by_hand():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    m = classification_metrics(y, p, threshold=0.3, k_share=0.25)
    assert m["roc_auc"] == pytest.approx(0.75)  # 3 of 4 positive-negative pairs ordered
    assert m["gini"] == pytest.approx(0.5)
    assert m["ks"] == pytest.approx(0.5)
    assert m["brier"] == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    assert m["precision_at_threshold"] == pytest.approx(2 / 3)  # 0.4, 0.35, 0.8 flagged
    assert m["recall_at_threshold"] == pytest.approx(1.0)
    assert m["precision_at_k"] == pytest.approx(1.0)  # the top one is a default


CHAMPION = {"roc_auc": 0.80, "brier": 0.0600, "ece": 0.0100}
BASELINE = {"roc_auc": 0.70, "brier": 0.07, "ece": 0.02}
POLICY = GatePolicy(relative_tolerance=0.10, min_defaults=50)
ENOUGH = {"test": (50, 900), "oot": (60, 800)}  # exactly the minimum in test: enough


def test_no_champion_baseline_alone_decides():
    good = decide({"roc_auc": 0.75, "brier": 0.2, "ece": 0.5}, BASELINE, None, POLICY, ENOUGH)
    assert good.promote
    assert [g.name for g in good.gates] == ["min_defaults", "beats_baseline", "no_champion"]
    bad = decide({"roc_auc": 0.69, "brier": 0.01, "ece": 0.001}, BASELINE, None, POLICY, ENOUGH)
    assert not bad.promote
    assert "<= logistic baseline" in bad.reasons[1]


def test_exactly_ten_percent_worse_passes():
    candidate = {"roc_auc": 0.80, "brier": 0.0600 * 1.10, "ece": 0.0100 * 1.10}
    assert decide(candidate, BASELINE, CHAMPION, POLICY, ENOUGH).promote


@pytest.mark.parametrize("metric", ["brier", "ece"])
def test_more_than_ten_percent_worse_fails(metric):
    candidate = {"roc_auc": 0.81, "brier": 0.06, "ece": 0.01}
    candidate[metric] = CHAMPION[metric] * 1.1001
    decision = decide(candidate, BASELINE, CHAMPION, POLICY, ENOUGH)
    assert not decision.promote
    failed = [g for g in decision.gates if not g.passed]
    assert [g.name for g in failed] == [f"{metric}_within_tolerance"]
    assert failed[0].limit == pytest.approx(CHAMPION[metric] * 1.1)


def test_lower_auc_than_champion_fails():
    candidate = {"roc_auc": 0.7999, "brier": 0.05, "ece": 0.005}
    decision = decide(candidate, BASELINE, CHAMPION, POLICY, ENOUGH)
    assert not decision.promote
    assert any("< champion 0.8000" in r for r in decision.reasons)


@pytest.fixture
def labelled() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    ids = np.arange(100000, 106000)
    months = np.repeat(["2024-01", "2024-02", "2024-03"], 2000)
    return pd.DataFrame({"SK_ID_CURR": ids, "month": months, "TARGET": rng.random(6000) < 0.08})


def test_splits_pass_on_clean_input_and_are_stable(labelled):
    splits = assign_splits(labelled, ["2024-01", "2024-02", "2024-03"], 42, 0.15, 0.15)
    assert all(c.passed for c in check_splits(splits))
    assert set(splits.loc[splits["month"] == "2024-03", "split"]) == {"oot"}
    shares = splits[splits["split"] != "oot"]["split"].value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.70, abs=0.03)
    # The same applicant gets the same split when the window moves on (stable hashing).
    later = assign_splits(labelled, ["2024-01", "2024-02", "2024-03"], 42, 0.15, 0.15)
    pd.testing.assert_frame_equal(splits, later)
    assert np.array_equal(hash_bucket(np.array([5, 6]), 1), hash_bucket(np.array([5, 6]), 1))


def test_split_checks_fail_on_tampered_input(labelled):
    splits = assign_splits(labelled, ["2024-01", "2024-02", "2024-03"], 42, 0.15, 0.15)
    overlap = pd.concat([splits, splits[splits["split"] == "train"].iloc[[0]].assign(split="test")])
    assert not {c.name: c.passed for c in check_splits(overlap)}["no_applicant_in_two_splits"]
    out_of_order = splits.copy()
    out_of_order.loc[out_of_order.index[0], "month"] = "2024-04"  # a training row after OOT
    result = {c.name: c for c in check_splits(out_of_order)}
    assert not result["oot_after_training_months"].passed
    one_class = splits.assign(TARGET=np.where(splits["split"] == "valid", 0, splits["TARGET"]))
    assert not {c.name: c.passed for c in check_splits(one_class)}["both_classes_in_every_split"]


def test_frame_hash_is_canonical_and_detects_a_changed_value(labelled):
    shuffled = labelled.sample(frac=1.0, random_state=1)[list(reversed(labelled.columns))]
    assert frame_sha256(shuffled) == frame_sha256(labelled)
    tampered = labelled.copy()
    tampered.loc[10, "TARGET"] = not tampered.loc[10, "TARGET"]
    assert frame_sha256(tampered) != frame_sha256(labelled)


def _synthetic_features(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.normal(size=n) for c in NUMERIC_FEATURES})
    frame["SK_ID_CURR"] = np.arange(seed * n, (seed + 1) * n)
    for c in CATEGORICAL_FEATURES:
        frame[c] = rng.choice(["a", "b", "c"], size=n)
    logit = -2.5 + 1.2 * frame["EXT_SOURCE_2"] - 0.8 * frame["INST_LATE_SHARE"]
    frame["TARGET"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def test_feature_equal_to_target_in_test_only_is_not_learnable():
    train_x, test_x = _synthetic_features(4000, 1), _synthetic_features(2000, 2)
    numeric = (*NUMERIC_FEATURES, "LEAK")
    train_x["LEAK"] = np.random.default_rng(9).integers(0, 2, len(train_x)).astype(float)
    test_x["LEAK"] = test_x["TARGET"].astype(float)  # noise in train, the label in test
    params = ModelParams(max_iter=60)
    leaky = gradient_boosting(params, CATEGORICAL_FEATURES, numeric).fit(train_x, train_x["TARGET"])
    clean = gradient_boosting(params).fit(train_x, train_x["TARGET"])
    y = test_x["TARGET"].to_numpy()
    with_leak = classification_metrics(y, predict_pd(leaky, test_x), 0.2, 0.1)["roc_auc"]
    without = classification_metrics(y, predict_pd(clean, test_x), 0.2, 0.1)["roc_auc"]
    leak_alone = classification_metrics(y, test_x["LEAK"].to_numpy(), 0.5, 0.1)["roc_auc"]
    assert leak_alone == 1.0  # in test, the column is the answer
    assert abs(with_leak - without) < 0.02  # yet the model, fitted on train, cannot use it
    assert with_leak < 0.9  # a learnt leak would score close to 1.0


def test_training_twice_gives_identical_predictions():
    train_x, valid_x = _synthetic_features(3000, 3), _synthetic_features(1000, 4)
    params = ModelParams(max_iter=40)
    first = train(train_x, train_x["TARGET"], valid_x, valid_x["TARGET"], params)
    second = train(train_x, train_x["TARGET"], valid_x, valid_x["TARGET"], params)
    a, b = predict_pd(first.model, valid_x), predict_pd(second.model, valid_x)
    assert np.max(np.abs(a - b)) <= 1e-12
    assert frame_sha256(train_x) == frame_sha256(train_x.copy())


def test_prediction_in_blocks_gives_the_pds_of_one_call(monkeypatch: pytest.MonkeyPatch):
    """A large frame is predicted in blocks (for speed); the PDs, and their order, are those of
    one call over the whole frame."""
    from creditplatform.ml import model as model_module

    train_x, rows = _synthetic_features(3000, 5), _synthetic_features(1003, 6)
    fitted = train(train_x, train_x["TARGET"], rows, rows["TARGET"], ModelParams(max_iter=20))
    whole = fitted.model.predict_proba(rows)[:, 1]
    monkeypatch.setattr(model_module, "PREDICT_BLOCK_ROWS", 100)  # 11 blocks, the last of 3 rows
    assert np.array_equal(predict_pd(fitted.model, rows), whole)
