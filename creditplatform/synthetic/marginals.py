"""Column samplers that reproduce a column's published profile: null rate, range, median, levels.

Columns that carry no modelled structure are drawn independently from their profile. The
quantile function passes exactly through the published minimum, median and maximum, with a
steeper tail on the longer side, which gives the skewed shapes amounts and counts have.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

# Beyond this many listed values a column is treated as continuous rather than categorical.
_MAX_DISCRETE_VALUES = 16


def within_group_index(counts: np.ndarray) -> np.ndarray:
    """0..k-1 inside each group of a repeated parent index (vectorised ``groupby.cumcount``)."""
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    return np.arange(total) - np.repeat(starts, counts)


def skewed_quantile(u: np.ndarray, low: float, mid: float, high: float) -> np.ndarray:
    """Map uniforms to a distribution with min ``low``, median ``mid`` and max ``high``."""
    left, right = max(mid - low, 0.0), max(high - mid, 0.0)
    # The longer side gets a higher power so most of its mass stays near the median.
    ratio = (right + 1e-9) / (left + 1e-9)
    right_power = 1.0 + min(4.0, max(0.0, np.log10(ratio)) * 1.5)
    left_power = 1.0 + min(4.0, max(0.0, -np.log10(ratio)) * 1.5)
    below = u < 0.5
    out = np.empty_like(u, dtype=float)
    out[below] = mid - left * ((0.5 - u[below]) / 0.5) ** left_power
    out[~below] = mid + right * ((u[~below] - 0.5) / 0.5) ** right_power
    return out


def sample_levels(rng: np.random.Generator, levels: Mapping[Any, float], n: int) -> np.ndarray:
    names = np.array(list(levels), dtype=object)
    weights = np.array(list(levels.values()), dtype=float)
    return names[rng.choice(len(names), size=n, p=weights / weights.sum())]


def category_weights(spec: dict, rare_share: float = 0.0005) -> dict[str, float]:
    """Observed level counts plus the rare levels the sample missed, at a small share each."""
    weights = {k: float(v) for k, v in spec.get("levels", {}).items()}
    total = sum(weights.values()) or 1.0
    for level in spec.get("rare_levels", []):
        weights.setdefault(level, total * rare_share)
    return weights


def sample_column(
    rng: np.random.Generator, spec: dict, n: int, with_nulls: bool = True
) -> pd.Series:
    """Draw ``n`` values of one profiled column (pandas dtype as in the file).

    ``with_nulls=False`` leaves nulls to the caller, for columns that are missing together.
    """
    dtype = spec["dtype"]
    if dtype == "str":
        values = pd.Series(sample_levels(rng, category_weights(spec), n), dtype=object)
    elif "values" in spec and len(spec["values"]) <= _MAX_DISCRETE_VALUES:
        listed = {float(k): v for k, v in spec["values"].items()}
        values = pd.Series(sample_levels(rng, listed, n).astype(float))
    else:
        u = rng.random(n)
        values = pd.Series(skewed_quantile(u, spec["min"], spec["p50"], spec["max"]))
        whole = dtype == "int64" or spec["name"].startswith("DAYS_")  # days are whole numbers
        values = values.round(0 if whole else 4)
    mask = rng.random(n) < (spec["null_rate"] if with_nulls else 0.0)
    if dtype == "int64":
        return values.astype("int64")
    values[mask] = None
    return values if dtype == "str" else values.astype(float)
