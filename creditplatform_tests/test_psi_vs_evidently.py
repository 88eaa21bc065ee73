"""Our PSI against Evidently's, on the same data.

Same formula: given the same bin shares, our PSI equals Evidently's to 1e-9. Different bins on
purpose: Evidently bins numeric columns into equal-width Sturges bins over reference + current,
we use the reference's deciles (plus a missing bin), which keep every bin populated on the
skewed amounts credit data is made of. Categorical PSI uses one bin per level in both, so the
two agree to 1e-6 there; on numeric columns they agree on the verdict, not the value.
"""

import numpy as np
import pandas as pd
import pytest
from evidently import Report
from evidently.legacy.calculations.stattests.utils import get_binned_data
from evidently.legacy.core import ColumnType
from evidently.presets import DataDriftPreset

from creditplatform.ml.drift import psi_categorical, psi_from_shares, psi_numeric


def evidently_psi(reference: pd.DataFrame, current: pd.DataFrame, column: str) -> float:
    snapshot = Report([DataDriftPreset(num_method="psi", cat_method="psi")]).run(
        current_data=current, reference_data=reference
    )
    for metric in snapshot.dict()["metrics"]:
        if metric["config"].get("column") == column:
            return float(metric["value"])
    raise KeyError(column)


@pytest.fixture
def incomes():
    rng = np.random.default_rng(5)
    reference = pd.DataFrame({"income": rng.lognormal(11.8, 0.5, 5000)})
    stable = pd.DataFrame({"income": rng.lognormal(11.8, 0.5, 5000)})
    shifted = pd.DataFrame({"income": rng.lognormal(11.8, 0.5, 5000) * 1.6})
    return reference, stable, shifted


def test_same_shares_give_the_same_psi(incomes):
    reference, _, shifted = incomes
    r, c = get_binned_data(reference["income"], shifted["income"], ColumnType.Numerical, 30)
    ours = psi_from_shares(r, c)
    assert ours == pytest.approx(evidently_psi(reference, shifted, "income"), abs=1e-9)


def test_numeric_verdicts_agree_though_bins_differ(incomes):
    reference, stable, shifted = incomes
    for current, drifted in ((stable, False), (shifted, True)):
        ours = psi_numeric(reference["income"].to_numpy(), current["income"].to_numpy())
        theirs = evidently_psi(reference, current, "income")
        assert (ours >= 0.2) == (theirs >= 0.2) == drifted, (ours, theirs)


def test_categorical_psi_agrees():
    rng = np.random.default_rng(6)
    levels = ["Cash loans", "Revolving loans"]
    reference = pd.DataFrame({"kind": rng.choice(levels, 5000, p=[0.9, 0.1])})
    current = pd.DataFrame({"kind": rng.choice(levels, 5000, p=[0.65, 0.35])})
    ours = psi_categorical(reference["kind"], current["kind"])
    assert ours == pytest.approx(evidently_psi(reference, current, "kind"), abs=1e-6)
    assert ours > 0.2
