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

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from creditplatform.features.catalog import CATEGORICAL_FEATURES, NUMERIC_FEATURES

EPSILON = 1e-4
BINS = 10
# Threads for the per-feature statistics (results do not depend on it).
STATISTICS_THREADS = min(4, os.cpu_count() or 1)


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
    return NumericReference.of(np.asarray(reference, dtype=float), bins).psi(
        np.asarray(current, dtype=float)
    )


def _level_shares(values: pd.Series) -> pd.Series:
    """Share of each level, missing values as a level of their own."""
    return values.astype(object).where(values.notna(), "__missing__").value_counts(normalize=True)


def _psi_levels(reference: pd.Series, current: pd.Series) -> float:
    levels = sorted(set(reference.index) | set(current.index), key=str)
    return psi_from_shares(
        reference.reindex(levels, fill_value=0.0).to_numpy(),
        current.reindex(levels, fill_value=0.0).to_numpy(),
    )


def psi_categorical(reference: pd.Series, current: pd.Series) -> float:
    return _psi_levels(_level_shares(reference), _level_shares(current))


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


@dataclass(frozen=True)
class NumericReference:
    """What PSI and KS need of a numeric reference column: its bin edges and shares, and its
    non-missing values (sorted) for KS."""

    edges: np.ndarray
    shares: np.ndarray
    values: np.ndarray

    @classmethod
    def of(cls, reference: np.ndarray, bins: int = BINS) -> NumericReference:
        edges = quantile_edges(reference, bins)
        present = np.sort(reference[~np.isnan(reference)])
        return cls(edges, _numeric_shares(reference, edges), present)

    def psi(self, current: np.ndarray) -> float:
        return psi_from_shares(self.shares, _numeric_shares(current, self.edges))


def _numbers(frame: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)


@dataclass(frozen=True)
class ReferenceProfile:
    """The reference side of every drift statistic, computed once: per numeric feature its
    bins, shares and sorted values, per categorical feature its level shares, and the
    reference scores. A process reporting many months against one champion builds it once."""

    numeric: dict[str, NumericReference]
    categorical: dict[str, pd.Series]
    scores: np.ndarray

    @classmethod
    def build(
        cls,
        reference: pd.DataFrame,
        scores: np.ndarray,
        numeric: tuple[str, ...] | list[str] = NUMERIC_FEATURES,
        categorical: tuple[str, ...] | list[str] = CATEGORICAL_FEATURES,
    ) -> ReferenceProfile:
        return cls(
            {c: NumericReference.of(_numbers(reference, c)) for c in numeric},
            {c: _level_shares(reference[c]) for c in categorical},
            np.asarray(scores, dtype=float),
        )

    def feature_drift(self, current: pd.DataFrame) -> list[FeatureDrift]:
        """Per-feature drift, largest PSI first (never sampled: PSI is the decision
        statistic). The numeric features are spread over threads: their sorts and searches run
        in NumPy without the GIL, and one month's 93 KS tests were most of a drift report."""

        def numeric(item: tuple[str, NumericReference]) -> FeatureDrift:
            column, ref = item
            values = _numbers(current, column)
            statistic, pvalue = ks_test(ref.values, values)
            return FeatureDrift(column, "numeric", ref.psi(values), statistic, pvalue)

        with ThreadPoolExecutor(STATISTICS_THREADS, thread_name_prefix="drift") as pool:
            found = list(pool.map(numeric, self.numeric.items()))
        for column, shares in self.categorical.items():
            psi = _psi_levels(shares, _level_shares(current[column]))
            found.append(FeatureDrift(column, "categorical", psi, None, None))
        return sorted(found, key=lambda d: -d.psi)

    def summarize(
        self, current: pd.DataFrame, current_scores: np.ndarray, psi_threshold: float
    ) -> DriftSummary:
        drifts = self.feature_drift(current)
        _, prediction_p = ks_test(self.scores, current_scores)
        drifted = [d.feature for d in drifts if d.psi >= psi_threshold]
        return DriftSummary(drifts, drifted, prediction_p, psi_threshold)


def feature_drift(
    reference: pd.DataFrame, current: pd.DataFrame, numeric: list[str], categorical: list[str]
) -> list[FeatureDrift]:
    """Per-feature drift, largest PSI first, for a reference used once."""
    return ReferenceProfile.build(reference, np.array([]), numeric, categorical).feature_drift(
        current
    )


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
    profile = ReferenceProfile.build(reference, reference_scores)
    return profile.summarize(current, current_scores, psi_threshold)
