"""The pandera contract of ``features.feature_store``: each feature's type, nullability and range.

Compiled to SQL by ``contracts/values_sql.py`` (the raw tables' compiler) and run on every
staged month before it is published, so a feature SQL change that yields an impossible value (a
share above 1, a count below 0, a day offset in the future, the ``365243`` sentinel leaking
through) blocks the month with the feature, rule, applicant and month. The ranges follow from
the SQL over raw rows that passed their own contracts; a feature with no range stated here
(a balance ratio, a signed debt) can be any finite number.
"""

from __future__ import annotations

from functools import cache

import pandera.pandas as pa

from creditplatform.contracts.checks import between, binary, finite, ge, le
from creditplatform.features.catalog import (
    APPLICATION_NUMERIC_FEATURES,
    CATEGORICAL_FEATURES,
    NUMERIC_FEATURES,
    ZERO_WHEN_ABSENT,
)
from creditplatform.homecredit import TABLES

# Shares of an applicant's rows (avg of a 0/1) and the building statistics: [0, 1].
_SHARES = (
    "REGION_POPULATION_RELATIVE", "EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3",
    "EXT_SOURCE_MEAN", "EXT_SOURCE_MIN", "APARTMENTS_AVG", "LIVINGAREA_AVG", "TOTALAREA_MODE",
    "YEARS_BEGINEXPLUATATION_AVG", "BB_DPD_SHARE", "PREV_REFUSED_SHARE", "POS_DPD_SHARE",
    "POS_COMPLETED_SHARE", "INST_LATE_SHARE", "INST_LATE_SHARE_1Y", "INST_SHORT_SHARE",
)  # fmt: skip
_FLAGS = (
    "DAYS_EMPLOYED_ANOM", "FLAG_EMP_PHONE", "FLAG_WORK_PHONE", "FLAG_PHONE", "FLAG_EMAIL",
    "REG_CITY_NOT_LIVE_CITY", "REG_CITY_NOT_WORK_CITY", "FLAG_DOCUMENT_3", "POS_DPD_12M",
)  # fmt: skip
# Day and month offsets: in the past. DAYS_EMPLOYED has its 365243 sentinel turned into a null
# (and DAYS_EMPLOYED_ANOM), so a sentinel that leaks through fails here.
_PAST = (
    "DAYS_BIRTH", "DAYS_EMPLOYED", "DAYS_REGISTRATION", "DAYS_ID_PUBLISH",
    "DAYS_LAST_PHONE_CHANGE", "BURO_DAYS_CREDIT_MEAN", "BURO_DAYS_CREDIT_MAX",
    "BURO_DAYS_CREDIT_MIN", "PREV_DAYS_DECISION_MAX", "POS_MONTHS_BALANCE_MAX",
)  # fmt: skip
# Amounts, counts and ratios of non-negative amounts: never below 0.
_NON_NEGATIVE = (
    "CNT_CHILDREN", "CNT_FAM_MEMBERS", "AMT_INCOME_TOTAL", "AMT_CREDIT", "AMT_ANNUITY",
    "AMT_GOODS_PRICE", "OWN_CAR_AGE", "DEF_30_CNT_SOCIAL_CIRCLE", "DEF_60_CNT_SOCIAL_CIRCLE",
    "AMT_REQ_CREDIT_BUREAU_MON", "AMT_REQ_CREDIT_BUREAU_QRT", "AMT_REQ_CREDIT_BUREAU_YEAR",
    "CREDIT_INCOME_RATIO", "ANNUITY_INCOME_RATIO", "CREDIT_TERM", "CREDIT_ANNUITY_RATIO",
    "GOODS_CREDIT_RATIO", "DAYS_EMPLOYED_PERC", "INCOME_PER_PERSON", "BURO_AMT_CREDIT_SUM_MEAN",
    "BURO_AMT_CREDIT_SUM_TOTAL", "BURO_OVERDUE_TOTAL", "BURO_MAX_OVERDUE_MAX",
    "PREV_AMT_CREDIT_MEAN", "PREV_APPROVED_CREDIT_TOTAL", "PREV_APP_CREDIT_RATIO_MEAN",
    "PREV_CNT_PAYMENT_MEAN", "POS_DPD_MAX", "POS_INSTALMENT_FUTURE_MEAN", "INST_DAYS_LATE_MEAN",
    "INST_PAYMENT_RATIO_MEAN", "CC_DPD_MAX",
)  # fmt: skip
_BOUNDED = {
    "REGION_RATING_CLIENT": (1, 3), "REGION_RATING_CLIENT_W_CITY": (1, 3),
    "HOUR_APPR_PROCESS_START": (0, 23), "BB_WORST_STATUS_12M": (0, 5),
}  # fmt: skip


def _rules(name: str) -> list[pa.Check]:
    if name in _SHARES:
        return [between(0, 1)]
    if name in _FLAGS:
        return [binary()]
    if name in _PAST:
        return [le(0)]
    if name in _BOUNDED:
        return [between(*_BOUNDED[name])]
    if name in _NON_NEGATIVE or name in ZERO_WHEN_ABSENT:
        return [ge(0)]
    return []


def _nullable(name: str) -> bool:
    """A count is 0 when an applicant has no rows, never null; an application field copied
    from an integer column of the landing file (which never holds a blank) is never null,
    except DAYS_EMPLOYED, whose sentinel becomes a null (and DAYS_EMPLOYED_ANOM, never null)."""
    if name in ZERO_WHEN_ABSENT or name == "DAYS_EMPLOYED_ANOM":
        return False
    application = TABLES["application"].dtypes
    copied = name in APPLICATION_NUMERIC_FEATURES and application.get(name) == "int64"
    return not copied or name == "DAYS_EMPLOYED"


@cache
def feature_schema() -> pa.DataFrameSchema:
    """One row per applicant: the key, the label (blank until known), categories and numeric
    features as the store holds them (DOUBLE, NaN-free: every numeric feature is finite)."""
    columns = {
        "SK_ID_CURR": pa.Column("int64", nullable=False, unique=True),
        "TARGET": pa.Column(None, checks=[binary()], nullable=True),
        **{c: pa.Column("object", nullable=True) for c in CATEGORICAL_FEATURES},
        **{
            c: pa.Column("float64", checks=[finite(), *_rules(c)], nullable=_nullable(c))
            for c in NUMERIC_FEATURES
        },
    }
    return pa.DataFrameSchema(columns, name="feature_store", strict=True)
