"""Reason codes (pure): the reference applicant, and each contribution re-derived by hand."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from creditplatform.features.catalog import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES
from creditplatform.ml.compiled_model import NotCompilable, verified
from creditplatform.ml.model import train
from creditplatform.ml.reason_codes import reference_values, score_with_reasons
from creditplatform.ml.records import ModelParams


def test_reference_is_the_median_and_the_most_frequent_level():
    frame = pd.DataFrame({c: [np.nan] * 5 for c in FEATURES})
    frame["AMT_CREDIT"] = [1.0, 2.0, 3.0, 100.0, np.nan]
    frame["CODE_GENDER"] = ["M", "F", "M", "F", None]  # a tie: the first in order wins
    frame["NAME_CONTRACT_TYPE"] = ["Cash loans", "Revolving loans", "Cash loans", None, None]
    reference = reference_values(frame)
    assert reference["AMT_CREDIT"] == 2.5
    assert reference["CODE_GENDER"] == "F"
    assert reference["NAME_CONTRACT_TYPE"] == "Cash loans"
    assert reference["EXT_SOURCE_1"] is None  # never observed: "typical" is missing


@pytest.fixture(scope="module")
def fitted():
    """A real calibrated booster on rows where EXT_SOURCE_MEAN and the income type drive risk."""
    rng = np.random.default_rng(3)
    n = 4000
    frame = pd.DataFrame({c: rng.normal(size=n) for c in NUMERIC_FEATURES})
    for column in CATEGORICAL_FEATURES:
        frame[column] = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    logit = -2 - 2.5 * frame["EXT_SOURCE_MEAN"] + 1.5 * (frame["NAME_INCOME_TYPE"] == "c")
    target = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()
    params = ModelParams(max_iter=60, min_samples_leaf=40)
    models = train(frame[:3000], target[:3000], frame[3000:], target[3000:], params)
    reference = reference_values(frame[:3000])
    return models.model, verified(models.model, reference), frame, reference


def test_each_contribution_is_the_score_drop_of_that_one_feature_made_typical(fitted):
    model, compiled, frame, reference = fitted
    applicant = frame.iloc[[0]].copy()
    applicant["EXT_SOURCE_MEAN"] = -3.0  # very low external score: the dominant risk
    applicant["NAME_INCOME_TYPE"] = "c"
    applicant["AMT_CREDIT"] = reference["AMT_CREDIT"]  # typical already: never a reason
    pds, reasons = score_with_reasons(compiled, applicant, reference, top=4)
    assert pds[0] == model.predict_proba(applicant)[0, 1]
    assert reasons[0][0].feature == "EXT_SOURCE_MEAN"
    assert "NAME_INCOME_TYPE" in {r.feature for r in reasons[0]}
    booster = model.calibrated_classifiers_[0].estimator
    for reason in reasons[0]:
        typical = applicant.copy()
        typical[reason.feature] = reference[reason.feature]
        by_hand = booster.decision_function(applicant)[0] - booster.decision_function(typical)[0]
        assert reason.contribution == pytest.approx(by_hand, abs=1e-12)
        assert reason.reference == reference[reason.feature]
    assert [r.contribution for r in reasons[0]] == sorted(
        (r.contribution for r in reasons[0]), reverse=True
    )
    assert "AMT_CREDIT" not in {r.feature for r in reasons[0]}


def test_many_applicants_at_once_match_one_at_a_time(fitted):
    model, compiled, frame, reference = fitted
    rows = frame.iloc[3000:3040]
    pds, reasons = score_with_reasons(compiled, rows, reference, top=3)
    assert np.array_equal(pds, model.predict_proba(rows)[:, 1])
    for i in (0, 17, 39):
        alone_pd, alone = score_with_reasons(compiled, rows.iloc[[i]], reference, top=3)
        assert alone_pd[0] == pds[i]
        assert [r.feature for r in alone[0]] == [r.feature for r in reasons[i]]
    no_pd, none = score_with_reasons(compiled, rows, reference, top=0)
    assert np.array_equal(no_pd, pds) and all(r == [] for r in none)


def test_the_compiled_model_scores_like_its_pipeline_and_refuses_a_misread_one(fitted):
    """Bit for bit on rows it was not built from (missing values, unseen levels included); a
    pipeline whose frame step orders the numbers otherwise than its encoder is refused."""
    model, compiled, frame, reference = fitted
    rows = frame.iloc[3000:3400].copy()
    rows.loc[rows.index[::7], "EXT_SOURCE_MEAN"] = np.nan
    rows.loc[rows.index[::5], "NAME_INCOME_TYPE"] = "never seen"
    rows.loc[rows.index[::3], "CODE_GENDER"] = None
    expected = model.predict_proba(rows)[:, 1]
    assert np.array_equal(compiled.predict_pd(rows).view(np.int64), expected.view(np.int64))
    misread = copy.deepcopy(model)
    step = misread.calibrated_classifiers_[0].estimator.estimator.named_steps["frame"]
    step.kw_args = {**step.kw_args, "numeric": tuple(reversed(step.kw_args["numeric"]))}
    assert np.array_equal(misread.predict_proba(rows), model.predict_proba(rows))
    with pytest.raises(NotCompilable, match="disagrees with its pipeline"):
        verified(misread, reference)
