"""pandera rules, unit-tested on hand-made rows: impossible values fail, real codes pass."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from creditplatform.contracts.schemas import validate_frame
from creditplatform.homecredit import SENTINEL_DAYS


@pytest.fixture
def applications(small_history) -> pd.DataFrame:
    frame = pd.read_csv(small_history / "landing" / "2024-01" / "application.csv", nrows=50)
    assert validate_frame("application", frame).empty
    return frame


def _failures(frame: pd.DataFrame, table: str = "application") -> set[tuple[str, str]]:
    cases = validate_frame(table, frame)
    return {(str(c), str(k)) for c, k in zip(cases["column"], cases["check"], strict=True)}


def test_sentinel_and_xna_are_accepted(applications):
    applications.loc[0, "DAYS_EMPLOYED"] = SENTINEL_DAYS
    applications.loc[0, "ORGANIZATION_TYPE"] = "XNA"
    applications.loc[1, "CODE_GENDER"] = "XNA"
    assert _failures(applications) == set()


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("DAYS_BIRTH", 120, "less_than_or_equal_to(0)"),
        ("DAYS_BIRTH", -36526, "greater_than_or_equal_to(-36525)"),  # older than 100 years
        ("DAYS_EMPLOYED", 10, f"days_le_0_or_sentinel_{SENTINEL_DAYS}"),
        ("AMT_INCOME_TOTAL", -1.0, "greater_than_or_equal_to(0)"),
        ("AMT_CREDIT", -500.0, "greater_than_or_equal_to(0)"),
        ("TARGET", 2, "isin([0, 1])"),
        ("EXT_SOURCE_2", 1.5, "in_range(0, 1)"),
    ],
)
def test_impossible_values_fail_with_column_and_rule(applications, column, value, rule):
    applications.loc[3, column] = value
    assert _failures(applications) == {(column, rule)}


def test_blank_target_means_not_yet_known(applications):
    applications["TARGET"] = applications["TARGET"].astype(float)
    applications.loc[[0, 1], "TARGET"] = np.nan
    assert _failures(applications) == set()


def test_bureau_balance_status_levels():
    frame = pd.DataFrame(
        {"SK_ID_BUREAU": [1, 1, 2], "MONTHS_BALANCE": [0, -1, 0], "STATUS": ["C", "7", "X"]}
    )
    assert _failures(frame, "bureau_balance") == {
        ("STATUS", "isin(['C', 'X', '0', '1', '2', '3', '4', '5'])")
    }


def test_negative_card_balance_is_real_not_an_error(small_history):
    path = small_history / "landing" / "2024-01" / "credit_card_balance.csv"
    frame = pd.read_csv(path, nrows=20)
    frame.loc[0, "AMT_BALANCE"] = -68627.0  # the real data's minimum is about this
    assert _failures(frame, "credit_card_balance") == set()
