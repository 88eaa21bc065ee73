"""Drift statistics we stand behind: PSI on reference-quantile bins, KS, prediction drift.

PSI (population stability index) of a numeric feature: the reference's deciles cut the line
into 10 bins (duplicate edges merged, so a feature with few distinct values gets fewer bins);
missing values form one more bin, so a change in the null rate is drift too. With r and c the
reference and current shares of a bin, PSI = sum((c - r) * ln(c / r)). An empty bin would make
the log infinite, so shares are floored at EPSILON = 1e-4 (documented, and the same floor for
both sides). A categorical feature gets one bin per level (plus missing), levels being the union
of both samples. Reading, with the configured threshold T (``drift_psi_threshold``, 0.2 by
default, the usual reading): >= T significant (drifted), from T/2 minor, below that stable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from creditplatform.features.catalog import CATEGORICAL_FEATURES, NUMERIC_FEATURES

EPSILON = 1e-4
BINS = 10


def psi_from_shares(reference: np.ndarray, current: np.ndarray) -> float:
    r = np.maximum(reference, EPSILON)
    c = np.maximum(current, EPSILON)
    return float(np.sum((c - r) * np.log(c / r)))


def quantile_edges(reference: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Inner bin edges: the reference's quantiles at 1/bins .. (bins-1)/bins, de-duplicated."""
    values = reference[~np.isnan(reference)]
    if values.size == 0:
        return np.array([])
    return np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))


def _numeric_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    missing = np.isnan(values)
    counts = np.bincount(
        np.searchsorted(edges, values[~missing], side="right"), minlength=len(edges) + 1
    )
    shares = np.append(counts, missing.sum()).astype(float)
    return shares / max(len(values), 1)


def psi_numeric(reference: np.ndarray, current: np.ndarray, bins: int = BINS) -> float:
    reference = np.asarray(reference, dtype=float)
    current = np.asarray(current, dtype=float)
    edges = quantile_edges(reference, bins)
    return psi_from_shares(_numeric_shares(reference, edges), _numeric_shares(current, edges))


def psi_categorical(reference: pd.Series, current: pd.Series) -> float:
    ref = reference.astype(object).where(reference.notna(), "__missing__")
    cur = current.astype(object).where(current.notna(), "__missing__")
    levels = sorted(set(ref.unique()) | set(cur.unique()), key=str)
    r = ref.value_counts(normalize=True).reindex(levels, fill_value=0.0).to_numpy()
    c = cur.value_counts(normalize=True).reindex(levels, fill_value=0.0).to_numpy()
    return psi_from_shares(r, c)


def ks_test(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample KS statistic and p-value on the non-missing values."""
    r = np.asarray(reference, dtype=float)
    c = np.asarray(current, dtype=float)
    r, c = r[~np.isnan(r)], c[~np.isnan(c)]
    if r.size == 0 or c.size == 0:
        return 0.0, 1.0
    result = ks_2samp(r, c)
    return float(result.statistic), float(result.pvalue)


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str  # numeric | categorical
    psi: float
    ks_statistic: float | None
    ks_pvalue: float | None


def feature_drift(
    reference: pd.DataFrame, current: pd.DataFrame, numeric: list[str], categorical: list[str]
) -> list[FeatureDrift]:
    """Per-feature drift, largest PSI first (never sampled: PSI is the decision statistic)."""
    found = []
    for column in numeric:
        r = pd.to_numeric(reference[column], errors="coerce").to_numpy(dtype=float)
        c = pd.to_numeric(current[column], errors="coerce").to_numpy(dtype=float)
        statistic, pvalue = ks_test(r, c)
        found.append(FeatureDrift(column, "numeric", psi_numeric(r, c), statistic, pvalue))
    for column in categorical:
        found.append(
            FeatureDrift(
                column,
                "categorical",
                psi_categorical(reference[column], current[column]),
                None,
                None,
            )
        )
    return sorted(found, key=lambda d: -d.psi)


@dataclass(frozen=True)
class DriftSummary:
    """Feature drift (largest PSI first), the drifted features, and prediction drift."""

    features: list[FeatureDrift]
    drifted: list[str]
    prediction_ks_pvalue: float
    psi_threshold: float

    def band(self, drift: FeatureDrift) -> str:
        """How to read a feature's PSI, judged by the threshold the drift rule uses."""
        if drift.psi >= self.psi_threshold:
            return "significant"
        return "minor" if drift.psi >= self.psi_threshold / 2 else "stable"


def summarize_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    reference_scores: np.ndarray,
    current_scores: np.ndarray,
    psi_threshold: float,
) -> DriftSummary:
    """The drift statistics the rules judge, for any current rows: a month of the store or the
    online requests the service logged (the same columns)."""
    drifts = feature_drift(reference, current, list(NUMERIC_FEATURES), list(CATEGORICAL_FEATURES))
    _, prediction_p = ks_test(reference_scores, current_scores)
    drifted = [d.feature for d in drifts if d.psi >= psi_threshold]
    return DriftSummary(drifts, drifted, prediction_p, psi_threshold)
