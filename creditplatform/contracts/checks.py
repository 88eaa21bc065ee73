"""The pandera checks our contracts are written in, each named so ``values_sql`` and
``arrow_rules`` can compile it and a violation reads as its rule.

pandera's built-ins keep their function's name (``greater_than_or_equal_to``, ``in_range``,
``isin``) whatever the check is called, so the name can carry the bound; the two checks
pandera has no built-in for are named functions carrying their statistics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from creditplatform.homecredit import SENTINEL_DAYS

HUNDRED_YEARS_DAYS = 36525


def ge(value: float) -> pa.Check:
    return pa.Check.ge(value, name=f"greater_than_or_equal_to({value})")


def le(value: float) -> pa.Check:
    return pa.Check.le(value, name=f"less_than_or_equal_to({value})")


def between(low: float, high: float) -> pa.Check:
    return pa.Check.in_range(low, high, name=f"in_range({low}, {high})")


def binary() -> pa.Check:
    return pa.Check.isin([0, 1], name="isin([0, 1])")


def plausible_max(bound: float) -> pa.Check:
    """An upper bound no real loan book reaches (see ``schemas.PLAUSIBLE_MAX``)."""
    rule = f"plausible_max({bound:.0f})"  # the name a violation reports, in pandera and SQL
    return pa.Check.le(bound, name=rule, error=rule)


def days_le_0_or_sentinel(series: pd.Series) -> pd.Series:
    return (series <= 0) | (series == SENTINEL_DAYS)


def days_or_sentinel() -> pa.Check:
    """A named function with its statistics, so ``values_sql`` can compile it to SQL."""
    return pa.Check(
        days_le_0_or_sentinel,
        element_wise=False,
        name=f"days_le_0_or_sentinel_{SENTINEL_DAYS}",
        statistics={"sentinel": SENTINEL_DAYS},
    )


def is_finite(series: pd.Series) -> pd.Series:
    """False for NaN and ±inf values (a null is not a value: pandera's ``ignore_na`` passes it).

    A NaN literal in a file is a value, distinct from a blank, in DuckDB and in Arrow-backed
    pandas; in NumPy-backed pandas the two cannot be told apart and both count as null.
    """
    values = series.to_numpy(dtype=float, na_value=np.nan)
    return pd.Series(np.isfinite(values), index=series.index)


def finite() -> pa.Check:
    return pa.Check(is_finite, element_wise=False, name="finite")


def past_age() -> list[pa.Check]:
    """A day offset in the past, at most a hundred years ago."""
    return [le(0), ge(-HUNDRED_YEARS_DAYS)]
