"""One pandera schema per Home Credit table: types, nullability and physically possible values.

The rules reject what cannot be true of a loan book (negative incomes, people born in the future
or over 100 years ago, a TARGET other than 0/1) and deliberately accept the real data's codes:
the ``365243`` day sentinel, ``XNA``/``XAP`` levels, negative card balances and bureau debts.
Category levels are not closed lists, because the full data has levels no sample shows.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pandera.pandas as pa

from creditplatform.homecredit import SENTINEL_DAYS, TABLES

HUNDRED_YEARS_DAYS = 36525
_PANDAS_DTYPES = {"int64": "int64", "float64": "float64", "str": "object"}


def _ge(value: float) -> pa.Check:
    return pa.Check.ge(value, name=f"greater_than_or_equal_to({value})")


def _le(value: float) -> pa.Check:
    return pa.Check.le(value, name=f"less_than_or_equal_to({value})")


def _between(low: float, high: float) -> pa.Check:
    return pa.Check.in_range(low, high, name=f"in_range({low}, {high})")


def _binary() -> pa.Check:
    return pa.Check.isin([0, 1], name="isin([0, 1])")


def days_le_0_or_sentinel(series: pd.Series) -> pd.Series:
    return (series <= 0) | (series == SENTINEL_DAYS)


def _days_or_sentinel() -> pa.Check:
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


def _finite() -> pa.Check:
    return pa.Check(is_finite, element_wise=False, name="finite")


_PAST_AGE = [_le(0), _ge(-HUNDRED_YEARS_DAYS)]

_RULES: dict[str, dict[str, list[pa.Check]]] = {
    "application": {
        "TARGET": [_binary()],
        "CNT_CHILDREN": [_ge(0)],
        "AMT_INCOME_TOTAL": [_ge(0)],
        "AMT_CREDIT": [_ge(0)],
        "AMT_ANNUITY": [_ge(0)],
        "AMT_GOODS_PRICE": [_ge(0)],
        "REGION_POPULATION_RELATIVE": [_between(0, 1)],
        "DAYS_BIRTH": _PAST_AGE,
        "DAYS_EMPLOYED": [_days_or_sentinel(), _ge(-HUNDRED_YEARS_DAYS)],
        "DAYS_REGISTRATION": _PAST_AGE,
        "DAYS_ID_PUBLISH": _PAST_AGE,
        "DAYS_LAST_PHONE_CHANGE": _PAST_AGE,
        "OWN_CAR_AGE": [_between(0, 100)],
        "CNT_FAM_MEMBERS": [_ge(0)],
        "REGION_RATING_CLIENT": [_between(1, 3)],
        "REGION_RATING_CLIENT_W_CITY": [_between(1, 3)],
        "HOUR_APPR_PROCESS_START": [_between(0, 23)],
        "EXT_SOURCE_1": [_between(0, 1)],
        "EXT_SOURCE_2": [_between(0, 1)],
        "EXT_SOURCE_3": [_between(0, 1)],
    },
    "bureau": {
        "DAYS_CREDIT": _PAST_AGE,
        "CREDIT_DAY_OVERDUE": [_ge(0)],
        "DAYS_ENDDATE_FACT": _PAST_AGE,
        "AMT_CREDIT_MAX_OVERDUE": [_ge(0)],
        "CNT_CREDIT_PROLONG": [_ge(0)],
        "AMT_CREDIT_SUM": [_ge(0)],
        "AMT_CREDIT_SUM_OVERDUE": [_ge(0)],
        "AMT_ANNUITY": [_ge(0)],
    },
    "bureau_balance": {
        "MONTHS_BALANCE": [_le(0)],
        "STATUS": [pa.Check.isin(list("CX012345"))],
    },
    "previous_application": {
        "AMT_ANNUITY": [_ge(0)],
        "AMT_APPLICATION": [_ge(0)],
        "AMT_CREDIT": [_ge(0)],
        "AMT_GOODS_PRICE": [_ge(0)],
        "HOUR_APPR_PROCESS_START": [_between(0, 23)],
        "DAYS_DECISION": _PAST_AGE,
        "CNT_PAYMENT": [_ge(0)],
    },
    "POS_CASH_balance": {
        "MONTHS_BALANCE": [_le(0)],
        "CNT_INSTALMENT": [_ge(0)],
        "CNT_INSTALMENT_FUTURE": [_ge(0)],
        "SK_DPD": [_ge(0)],
        "SK_DPD_DEF": [_ge(0)],
    },
    "installments_payments": {
        "NUM_INSTALMENT_VERSION": [_ge(0)],
        "NUM_INSTALMENT_NUMBER": [_ge(0)],
        "AMT_INSTALMENT": [_ge(0)],
        "AMT_PAYMENT": [_ge(0)],
    },
    "credit_card_balance": {
        "MONTHS_BALANCE": [_le(0)],
        "AMT_CREDIT_LIMIT_ACTUAL": [_ge(0)],
        "SK_DPD": [_ge(0)],
        "SK_DPD_DEF": [_ge(0)],
    },
}

# Building statistics and flags: normalised to [0, 1] / binary in the real data.
_APPLICATION = TABLES["application"]
for _col in _APPLICATION.columns:
    if _col.endswith(("_AVG", "_MODE", "_MEDI")) and _APPLICATION.dtypes[_col] == "float64":
        _RULES["application"][_col] = [_between(0, 1)]
    elif _col.startswith(("FLAG_", "REG_", "LIVE_")) and _APPLICATION.dtypes[_col] == "int64":
        _RULES["application"][_col] = [_binary()]
    elif _col.startswith(("AMT_REQ_CREDIT_BUREAU_", "OBS_", "DEF_")):
        _RULES["application"][_col] = [_ge(0)]


@cache
def schema_for(table: str) -> pa.DataFrameSchema:
    """The pandera contract of one landing table (after parsing with the declared types).

    Integer columns of the real files never hold a blank (pandas would read them as float), so
    they are non-nullable; TARGET is the exception: blank means the outcome is not known yet.
    Every float column must be finite: a NaN or ±inf (or a literal that overflows to inf) is
    refused here, before the raw month is published, instead of poisoning the features.
    """
    spec = TABLES[table]
    rules = _RULES[table]
    columns = {}
    for name in spec.columns:
        dtype = spec.dtypes[name]
        nullable = dtype != "int64" or name == "TARGET"
        checks = ([_finite()] if dtype == "float64" else []) + rules.get(name, [])
        columns[name] = pa.Column(
            None if name == "TARGET" else _PANDAS_DTYPES[dtype],
            checks=checks,
            nullable=nullable,
            coerce=False,
        )
    return pa.DataFrameSchema(columns, strict=True, ordered=True, name=table)
