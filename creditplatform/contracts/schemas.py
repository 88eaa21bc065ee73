"""One pandera schema per Home Credit table: types, nullability and physically possible values.

The rules reject what cannot be true of a loan book (negative incomes, people born in the future
or over 100 years ago, a TARGET other than 0/1) and deliberately accept the real data's codes:
the ``365243`` day sentinel, ``XNA``/``XAP`` levels, negative card balances and bureau debts.
Category levels are not closed lists, because the full data has levels no sample shows. Amounts
and counts carry a plausibility bound (``SAMPLE_MAX``): finite but impossible is refused too.
"""

from __future__ import annotations

import math
from functools import cache

import pandera.pandas as pa

from creditplatform.contracts.checks import (
    HUNDRED_YEARS_DAYS,
    between,
    binary,
    days_or_sentinel,
    finite,
    ge,
    le,
    past_age,
    plausible_max,
)
from creditplatform.homecredit import TABLES

_PANDAS_DTYPES = {"int64": "int64", "float64": "float64", "str": "object"}

_RULES: dict[str, dict[str, list[pa.Check]]] = {
    "application": {
        "TARGET": [binary()],
        "CNT_CHILDREN": [ge(0)],
        "AMT_INCOME_TOTAL": [ge(0)],
        "AMT_CREDIT": [ge(0)],
        "AMT_ANNUITY": [ge(0)],
        "AMT_GOODS_PRICE": [ge(0)],
        "REGION_POPULATION_RELATIVE": [between(0, 1)],
        "DAYS_BIRTH": past_age(),
        "DAYS_EMPLOYED": [days_or_sentinel(), ge(-HUNDRED_YEARS_DAYS)],
        "DAYS_REGISTRATION": past_age(),
        "DAYS_ID_PUBLISH": past_age(),
        "DAYS_LAST_PHONE_CHANGE": past_age(),
        "OWN_CAR_AGE": [between(0, 100)],
        "CNT_FAM_MEMBERS": [ge(0)],
        "REGION_RATING_CLIENT": [between(1, 3)],
        "REGION_RATING_CLIENT_W_CITY": [between(1, 3)],
        "HOUR_APPR_PROCESS_START": [between(0, 23)],
        "EXT_SOURCE_1": [between(0, 1)],
        "EXT_SOURCE_2": [between(0, 1)],
        "EXT_SOURCE_3": [between(0, 1)],
    },
    "bureau": {
        "DAYS_CREDIT": past_age(),
        "CREDIT_DAY_OVERDUE": [ge(0)],
        "DAYS_ENDDATE_FACT": past_age(),
        "AMT_CREDIT_MAX_OVERDUE": [ge(0)],
        "CNT_CREDIT_PROLONG": [ge(0)],
        "AMT_CREDIT_SUM": [ge(0)],
        "AMT_CREDIT_SUM_OVERDUE": [ge(0)],
        "AMT_ANNUITY": [ge(0)],
    },
    "bureau_balance": {
        "MONTHS_BALANCE": [le(0)],
        "STATUS": [pa.Check.isin(list("CX012345"))],
    },
    "previous_application": {
        "AMT_ANNUITY": [ge(0)],
        "AMT_APPLICATION": [ge(0)],
        "AMT_CREDIT": [ge(0)],
        "AMT_GOODS_PRICE": [ge(0)],
        "HOUR_APPR_PROCESS_START": [between(0, 23)],
        "DAYS_DECISION": past_age(),
        "CNT_PAYMENT": [ge(0)],
    },
    "POS_CASH_balance": {
        "MONTHS_BALANCE": [le(0)],
        "CNT_INSTALMENT": [ge(0)],
        "CNT_INSTALMENT_FUTURE": [ge(0)],
        "SK_DPD": [ge(0)],
        "SK_DPD_DEF": [ge(0)],
    },
    "installments_payments": {
        "NUM_INSTALMENT_VERSION": [ge(0)],
        "NUM_INSTALMENT_NUMBER": [ge(0)],
        "AMT_INSTALMENT": [ge(0)],
        "AMT_PAYMENT": [ge(0)],
    },
    "credit_card_balance": {
        "MONTHS_BALANCE": [le(0)],
        "AMT_CREDIT_LIMIT_ACTUAL": [ge(0)],
        "SK_DPD": [ge(0)],
        "SK_DPD_DEF": [ge(0)],
    },
}

# The statistical guard: the largest value the published samples of the real tables show
# (application_train n=5,199 rows, bureau 24,199, previous_application 4,199, POS_CASH 21,199,
# installments 21,199, credit_card 24,199), per amount and count column. A value a hundred times
# that, rounded up to a power of ten, is not a loan book's but a unit or parsing error
# (cents for units, an overflowed field): it is refused at landing with its line, so it never
# reaches the features. The margin covers the full data's known outliers (an income of
# 117,000,000 against a sample maximum of 1,935,000).
PLAUSIBLE_MARGIN = 100
SAMPLE_MAX: dict[str, dict[str, float]] = {
    "application": {
        "CNT_CHILDREN": 4, "AMT_INCOME_TOTAL": 1.935e6, "AMT_CREDIT": 4.05e6,
        "AMT_ANNUITY": 225000, "AMT_GOODS_PRICE": 4.05e6, "CNT_FAM_MEMBERS": 6,
        "OBS_30_CNT_SOCIAL_CIRCLE": 22, "DEF_30_CNT_SOCIAL_CIRCLE": 5,
        "OBS_60_CNT_SOCIAL_CIRCLE": 21, "DEF_60_CNT_SOCIAL_CIRCLE": 5,
        "AMT_REQ_CREDIT_BUREAU_HOUR": 2, "AMT_REQ_CREDIT_BUREAU_DAY": 3,
        "AMT_REQ_CREDIT_BUREAU_WEEK": 3, "AMT_REQ_CREDIT_BUREAU_MON": 16,
        "AMT_REQ_CREDIT_BUREAU_QRT": 5, "AMT_REQ_CREDIT_BUREAU_YEAR": 11,
    },
    "bureau": {
        "CREDIT_DAY_OVERDUE": 2603, "AMT_CREDIT_MAX_OVERDUE": 2.092e6, "CNT_CREDIT_PROLONG": 5,
        "AMT_CREDIT_SUM": 2.362e7, "AMT_CREDIT_SUM_DEBT": 1.833e7, "AMT_CREDIT_SUM_LIMIT": 1.391e6,
        "AMT_CREDIT_SUM_OVERDUE": 3.494e5, "AMT_ANNUITY": 5.291e6,
    },
    "previous_application": {
        "AMT_ANNUITY": 150975, "AMT_APPLICATION": 2.25e6, "AMT_CREDIT": 2.266e6,
        "AMT_DOWN_PAYMENT": 2.18e5, "AMT_GOODS_PRICE": 2.25e6, "CNT_PAYMENT": 72,
    },
    "POS_CASH_balance": {
        "CNT_INSTALMENT": 72, "CNT_INSTALMENT_FUTURE": 69, "SK_DPD": 3261, "SK_DPD_DEF": 3261,
    },
    "installments_payments": {
        "NUM_INSTALMENT_VERSION": 40, "NUM_INSTALMENT_NUMBER": 217, "AMT_INSTALMENT": 2.293e6,
        "AMT_PAYMENT": 2.293e6,
    },
    "credit_card_balance": {
        "AMT_BALANCE": 9.442e5, "AMT_CREDIT_LIMIT_ACTUAL": 1.012e6,
        "AMT_DRAWINGS_ATM_CURRENT": 810000, "AMT_DRAWINGS_CURRENT": 9.576e5,
        "AMT_DRAWINGS_OTHER_CURRENT": 675000, "AMT_DRAWINGS_POS_CURRENT": 9.576e5,
        "AMT_INST_MIN_REGULARITY": 4.673e4, "AMT_PAYMENT_CURRENT": 969750,
        "AMT_PAYMENT_TOTAL_CURRENT": 9.241e5, "AMT_RECEIVABLE_PRINCIPAL": 8.996e5,
        "AMT_RECIVABLE": 9.354e5, "AMT_TOTAL_RECEIVABLE": 9.354e5, "CNT_DRAWINGS_ATM_CURRENT": 17,
        "CNT_DRAWINGS_CURRENT": 101, "CNT_DRAWINGS_OTHER_CURRENT": 6,
        "CNT_DRAWINGS_POS_CURRENT": 101, "CNT_INSTALMENT_MATURE_CUM": 116, "SK_DPD": 2589,
        "SK_DPD_DEF": 169,
    },
}  # fmt: skip


def plausible_bound(sample_max: float) -> float:
    """``PLAUSIBLE_MARGIN`` times the sample's largest value, rounded up to a power of ten."""
    return float(10 ** math.ceil(math.log10(sample_max * PLAUSIBLE_MARGIN)))


# Building statistics and flags: normalised to [0, 1] / binary in the real data.
_APPLICATION = TABLES["application"]
for _col in _APPLICATION.columns:
    if _col.endswith(("_AVG", "_MODE", "_MEDI")) and _APPLICATION.dtypes[_col] == "float64":
        _RULES["application"][_col] = [between(0, 1)]
    elif _col.startswith(("FLAG_", "REG_", "LIVE_")) and _APPLICATION.dtypes[_col] == "int64":
        _RULES["application"][_col] = [binary()]
    elif _col.startswith(("AMT_REQ_CREDIT_BUREAU_", "OBS_", "DEF_")):
        _RULES["application"][_col] = [ge(0)]


for _table, _maxima in SAMPLE_MAX.items():
    for _col, _seen in _maxima.items():
        if _col not in TABLES[_table].dtypes:
            raise KeyError(f"SAMPLE_MAX names {_table}.{_col}, which is not a column")
        _RULES[_table].setdefault(_col, []).append(plausible_max(plausible_bound(_seen)))


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
        checks = ([finite()] if dtype == "float64" else []) + rules.get(name, [])
        columns[name] = pa.Column(
            None if name == "TARGET" else _PANDAS_DTYPES[dtype],
            checks=checks,
            nullable=nullable,
            coerce=False,
        )
    return pa.DataFrameSchema(columns, strict=True, ordered=True, name=table)
