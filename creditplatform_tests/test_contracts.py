"""pandera rules, unit-tested on hand-made rows: impossible values fail, real codes pass.

Every case runs twice: through pandera itself on a pandas frame (the reference) and through
``values_sql``, which compiles the same schema to SQL and evaluates it on DuckDB (what ingest
runs). Both must report the same (column, rule) pairs.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from creditplatform.contracts.schemas import (
    PLAUSIBLE_MARGIN,
    SAMPLE_MAX,
    plausible_bound,
    schema_for,
)
from creditplatform.contracts.values_sql import value_rule_violations
from creditplatform.homecredit import SENTINEL_DAYS
from creditplatform_tests.frames import arrow_backed


def _pandera_failures(table: str, frame: pd.DataFrame) -> set[tuple[str, str]]:
    try:
        schema_for(table).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        cases = cases[~cases["check"].astype(str).str.startswith("dtype(")]
        return {(str(c), str(k)) for c, k in zip(cases["column"], cases["check"], strict=True)}
    return set()


def _duckdb_violations(frame: pd.DataFrame, schema: pa.DataFrameSchema):
    with duckdb.connect() as con:
        con.register("frame", frame)
        con.execute("CREATE TABLE staged AS SELECT row_number() OVER () AS _row, * FROM frame")
        return value_rule_violations(con, "staged", schema)


def _sql_failures(table: str, frame: pd.DataFrame) -> set[tuple[str, str]]:
    return {(v.column, v.rule) for v in _duckdb_violations(frame, schema_for(table))}


@pytest.fixture(params=["pandera", "sql"])
def _failures(request):
    evaluate = _pandera_failures if request.param == "pandera" else _sql_failures

    def failures(frame: pd.DataFrame, table: str = "application") -> set[tuple[str, str]]:
        return evaluate(table, frame)

    return failures


@pytest.fixture
def applications(small_history) -> pd.DataFrame:
    frame = pd.read_csv(small_history / "landing" / "2024-01" / "application.csv", nrows=50)
    assert _pandera_failures("application", frame) == _sql_failures("application", frame) == set()
    return frame


def test_sentinel_and_xna_are_accepted(applications, _failures):
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
        # Finite but not a loan book's: the statistical guard (an income in cents, a typo).
        ("AMT_INCOME_TOTAL", 2.5e9, "plausible_max(1000000000)"),
        ("CNT_CHILDREN", 1001, "plausible_max(1000)"),
    ],
)
def test_impossible_values_fail_with_column_and_rule(applications, _failures, column, value, rule):
    applications.loc[3, column] = value
    assert _failures(applications) == {(column, rule)}


def test_the_plausible_bound_is_the_stated_margin_over_the_samples():
    """A hundred times the published samples' largest value, up to a power of ten; the full
    data's known outlier (an income of 117,000,000) stays inside."""
    assert PLAUSIBLE_MARGIN == 100
    assert plausible_bound(1.935e6) == 1e9 > 117_000_000
    assert plausible_bound(4) == 1000 and plausible_bound(10) == 1000
    maxima = {c: SAMPLE_MAX["application"][c] for c in ("AMT_INCOME_TOTAL", "CNT_CHILDREN")}
    for column, seen in maxima.items():
        names = [c.name for c in schema_for("application").columns[column].checks]
        assert f"plausible_max({plausible_bound(seen):.0f})" in names


def test_blank_target_means_not_yet_known(applications, _failures):
    applications["TARGET"] = applications["TARGET"].astype(float)
    applications.loc[[0, 1], "TARGET"] = np.nan
    assert _failures(applications) == set()


def test_bureau_balance_status_levels(_failures):
    frame = pd.DataFrame(
        {"SK_ID_BUREAU": [1, 1, 2], "MONTHS_BALANCE": [0, -1, 0], "STATUS": ["C", "7", "X"]}
    )
    assert _failures(frame, "bureau_balance") == {
        ("STATUS", "isin(['C', 'X', '0', '1', '2', '3', '4', '5'])")
    }


def test_negative_card_balance_is_real_not_an_error(small_history, _failures):
    path = small_history / "landing" / "2024-01" / "credit_card_balance.csv"
    frame = pd.read_csv(path, nrows=20)
    frame.loc[0, "AMT_BALANCE"] = -68627.0  # the real data's minimum is about this
    assert _failures(frame, "credit_card_balance") == set()


def test_sql_reports_rows_values_and_counts():
    frame = pd.DataFrame(
        {"SK_ID_BUREAU": [1, 1, 2, 3], "MONTHS_BALANCE": [0, 4, 0, 7], "STATUS": ["C"] * 4}
    )
    (violation,) = _duckdb_violations(frame, schema_for("bureau_balance"))
    assert (violation.column, violation.rule, violation.failing_rows) == (
        "MONTHS_BALANCE", "less_than_or_equal_to(0)", 2,
    )  # fmt: skip
    assert violation.cases == [{"row": 2, "value": 4}, {"row": 4, "value": 7}]


def test_null_in_a_non_nullable_column_fails_not_nullable():
    frame = pd.DataFrame(
        {"SK_ID_BUREAU": [1, None], "MONTHS_BALANCE": [0, -1], "STATUS": ["C"] * 2}
    )
    assert _sql_failures("bureau_balance", frame) == {("SK_ID_BUREAU", "not_nullable")}


def test_a_check_without_sql_form_is_run_by_pandera():
    """A custom lambda cannot be compiled; it must still be evaluated, not skipped."""
    schema = pa.DataFrameSchema(
        {"x": pa.Column(float, checks=[pa.Check(lambda s: s % 2 == 0, name="even")])}, name="t"
    )
    (violation,) = _duckdb_violations(pd.DataFrame({"x": [2.0, 3.0, 4.0, 5.0]}), schema)
    assert (violation.column, violation.rule, violation.failing_rows) == ("x", "even", 2)
    assert [case["row"] for case in violation.cases] == [2, 4]


@pytest.mark.parametrize(
    "check",
    [
        pa.Check.ge(2), pa.Check.gt(2), pa.Check.le(2), pa.Check.lt(2),
        pa.Check.in_range(1, 3), pa.Check.in_range(1, 3, include_min=False, include_max=False),
        pa.Check.isin([1.0, 3.0]),
    ],
    ids=["ge", "gt", "le", "lt", "in_range", "in_range_open", "isin"],
)  # fmt: skip
def test_every_compiled_builtin_agrees_with_pandera(check):
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0, np.nan]})
    schema = pa.DataFrameSchema({"x": pa.Column(float, checks=[check], nullable=True)}, name="t")
    try:
        schema.validate(frame, lazy=True)
        expected: list[int] = []
    except pa.errors.SchemaErrors as errors:
        expected = sorted(int(i) + 1 for i in errors.failure_cases["index"])
    found = _duckdb_violations(frame, schema)
    assert sorted(case["row"] for v in found for case in v.cases) == expected


GE_0, LE_0, UNIT = "greater_than_or_equal_to(0)", "less_than_or_equal_to(0)", "in_range(0, 1)"
PAST = "greater_than_or_equal_to(-36525)"
CREDIT_MAX = "plausible_max(1000000000)"  # 100 x the samples' 4.05e6, up to a power of ten


@pytest.mark.parametrize(
    ("column", "also"),
    [
        ("AMT_CREDIT", {"nan": {GE_0, CREDIT_MAX}, "inf": {CREDIT_MAX}, "-inf": {GE_0}}),
        ("EXT_SOURCE_1", {"nan": {UNIT}, "inf": {UNIT}, "-inf": {UNIT}}),
        ("DAYS_REGISTRATION", {"nan": {LE_0, PAST}, "inf": {LE_0}, "-inf": {PAST}}),
    ],
    ids=["ge_0", "in_range_nullable", "past_age"],
)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_values_fail_alike_in_pandera_and_sql(applications, column, also, value):
    """NaN and ±inf fail ``finite``, and each comparison the way pandas compares them (DuckDB
    orders NaN above every number, which the compiled SQL corrects), on both routes."""
    frame = arrow_backed(applications, column, 3, value)
    label = "nan" if np.isnan(value) else ("inf" if value > 0 else "-inf")
    expected = {(column, "finite")} | {(column, rule) for rule in also.get(label, ())}
    assert _pandera_failures("application", frame) == expected
    assert _sql_failures("application", frame) == expected


def test_null_is_not_a_value_on_either_route(applications):
    """A blank in an optional float passes ``finite`` and its range rule alike."""
    frame = arrow_backed(applications, "EXT_SOURCE_1", 3, None)
    assert _pandera_failures("application", frame) == _sql_failures("application", frame) == set()
