"""The feature store's pandera contract (``features/contract.py``): compiled to SQL and run on
every staged month, agreeing with pandera itself on broken values, NaN, ±inf and NULL; a
violation blocks the month naming feature, rule, applicant and month; a failing feature file is
named with its month and cause; the UI's column schemas carry the constraints that run.
"""

from __future__ import annotations

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from creditplatform.features import store
from creditplatform.features.contract import feature_schema
from creditplatform.features.store import STORE, FeatureSqlError, build_month, feature_query
from creditplatform_tests.frames import arrow_backed

MONTH = "2024-01"
ORIGINAL = store.read_sql  # the real feature files, before a test patches them


@pytest.fixture
def store_rows(data_copy) -> pd.DataFrame:
    """Forty applicants' feature rows of a generated month, as the store computes them."""
    with duckdb.connect(str(data_copy / "warehouse.duckdb"), read_only=True) as con:
        frame = con.execute(
            f"{feature_query()} ORDER BY SK_ID_CURR LIMIT 40", {"month": MONTH}
        ).df()
    assert _pandera(frame) == _sql(frame) == set()
    return frame


def _pandera(frame: pd.DataFrame) -> set[tuple[str, str]]:
    try:
        feature_schema().validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        cases = cases[~cases["check"].astype(str).str.startswith("dtype(")]
        return {(str(c), str(k)) for c, k in zip(cases["column"], cases["check"], strict=True)}
    return set()


def _sql(frame: pd.DataFrame) -> set[tuple[str, str]]:
    with duckdb.connect() as con:
        con.register("frame", frame)
        con.execute("CREATE TABLE staged AS SELECT * FROM frame")
        check = store.value_rules(con, "staged", MONTH)
    return {(v["column"], v["rule"]) for v in check.details["violations"]}


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("PREV_REFUSED_SHARE", 1.5, "in_range(0, 1)"),
        ("BURO_COUNT", -1.0, "greater_than_or_equal_to(0)"),
        ("DAYS_EMPLOYED", 365243.0, "less_than_or_equal_to(0)"),  # the sentinel leaked through
        ("DAYS_EMPLOYED_ANOM", 2.0, "isin([0, 1])"),
        ("BB_WORST_STATUS_12M", 6.0, "in_range(0, 5)"),
        ("BURO_COUNT", None, "not_nullable"),  # a count is 0 when there are no rows
    ],
)
def test_a_broken_feature_fails_alike_in_pandera_and_sql(store_rows, column, value, rule):
    frame = arrow_backed(store_rows, column, 3, value)
    assert _pandera(frame) == _sql(frame) == {(column, rule)}


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("PREV_REFUSED_SHARE", {"nan": {"in_range(0, 1)"}, "inf": {"in_range(0, 1)"},
                                "-inf": {"in_range(0, 1)"}, "null": set()}),
        ("BURO_DEBT_TOTAL", {"nan": set(), "inf": set(), "-inf": set(), "null": set()}),
        ("BURO_COUNT", {"nan": {"greater_than_or_equal_to(0)"}, "inf": set(),
                        "-inf": {"greater_than_or_equal_to(0)"}, "null": {"not_nullable"}}),
    ],
    ids=["share", "unbounded", "count"],
)  # fmt: skip
@pytest.mark.parametrize("label", ["nan", "inf", "-inf", "null"])
def test_nan_inf_and_null_fail_alike_in_pandera_and_sql(store_rows, column, expected, label):
    """NaN and ±inf fail ``finite`` and each comparison as pandas compares them; a NULL is not
    a value (it passes the value rules) and fails only a column that may not be null."""
    value = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf, "null": None}[label]
    frame = arrow_backed(store_rows, column, 3, value)
    finite = set() if label == "null" else {"finite"}
    want = {(column, rule) for rule in finite | expected[label]}
    assert _pandera(frame) == _sql(frame) == want


def _buggy(name: str) -> str:
    """pos_cash.sql with the completed share shifted by one: an edit that runs, and shares
    below 0."""
    sql = ORIGINAL(name)
    if name == "pos_cash":
        sql = sql.replace(
            "AS INTEGER)) AS POS_COMPLETED_SHARE", "AS INTEGER)) - 1 AS POS_COMPLETED_SHARE"
        )
    return sql


def test_a_broken_feature_blocks_the_month_and_loses_nothing(data_copy, monkeypatch):
    """Under Dagster: the blocking ``value_rules`` check fails naming feature, rule, month and
    applicants; the month built before stays exactly as it was."""
    from creditplatform.definitions import build_definitions
    from creditplatform.settings import load_settings

    warehouse = str(data_copy / "warehouse.duckdb")
    with duckdb.connect(warehouse) as con:
        assert build_month(con, MONTH).published
        before = con.execute(f"SELECT * FROM {STORE} ORDER BY SK_ID_CURR").df()
    monkeypatch.setenv("CREDITPLATFORM_DATA_DIR", str(data_copy))
    monkeypatch.setattr(store, "read_sql", _buggy)
    defs = build_definitions(load_settings())
    key = dg.AssetKey("feature_store")
    with dg.instance_for_test() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, partition_key=MONTH, asset_selection=[key], raise_on_error=False
        )
    assert not result.success
    (check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "value_rules"]
    assert not check.passed
    description = check.description
    assert f"feature_store {MONTH}.POS_COMPLETED_SHARE: rule in_range(0, 1) failed" in description
    assert "SK_ID_CURR=" in description
    assert result.get_asset_materialization_events() == []
    with duckdb.connect(warehouse, read_only=True) as con:
        after = con.execute(f"SELECT * FROM {STORE} ORDER BY SK_ID_CURR").df()
    pd.testing.assert_frame_equal(before, after)


def test_a_failing_feature_file_is_named_with_its_month_and_cause(data_copy, monkeypatch):
    def failing(name: str) -> str:
        sql = ORIGINAL(name)
        return (
            sql.replace(
                "max(SK_DPD) AS CC_DPD_MAX", "max(CAST('x' || SK_DPD AS INTEGER)) AS CC_DPD_MAX"
            )
            if name == "credit_card"
            else sql
        )

    monkeypatch.setattr(store, "read_sql", failing)
    with (
        duckdb.connect(str(data_copy / "warehouse.duckdb")) as con,
        pytest.raises(FeatureSqlError) as error,
    ):
        build_month(con, MONTH)
    message = str(error.value)
    assert message.startswith(
        f"feature_store {MONTH}: features/credit_card.sql failed: Conversion Error"
    )
    assert "\n" not in message


def test_column_schemas_in_the_ui_carry_the_constraints_that_run():
    """Raw and feature assets show nullable, unique and each check's text, read from the pandera
    schemas that the checks run (the plausibility bound included)."""
    from creditplatform.definitions import build_definitions
    from creditplatform.settings import load_settings

    defs = build_definitions(load_settings())
    graph = defs.resolve_asset_graph()

    def column(asset: str, name: str) -> dg.TableColumn:
        schema = graph.get(dg.AssetKey.from_user_string(asset)).metadata["dagster/column_schema"]
        return next(c for c in schema.columns if c.name == name)

    income = column("raw/application", "AMT_INCOME_TOTAL").constraints
    assert (income.nullable, income.other) == (
        True, ["finite", "greater_than_or_equal_to(0)", "plausible_max(1000000000)"],
    )  # fmt: skip
    assert column("raw/application", "SK_ID_CURR").constraints.nullable is False
    share = column("feature_store", "PREV_REFUSED_SHARE").constraints
    assert (share.nullable, share.other) == (True, ["finite", "in_range(0, 1)"])
    key = column("feature_store", "SK_ID_CURR").constraints
    assert (key.nullable, key.unique) == (False, True)
    assert column("feature_store", "month").constraints.other == []  # added by the warehouse
