"""Feature SQL on tiny hand-made raw tables, with the right answers worked out by hand."""

import dagster as dg
import duckdb
import pandas as pd
import pytest

from creditplatform.features.catalog import STORE_COLUMNS
from creditplatform.features.store import STORE, build_month
from creditplatform.homecredit import TABLES
from creditplatform.warehouse.ingest import ensure_raw_tables

M = "2024-05"


def insert(con, table: str, rows: list[dict]) -> None:
    for row in rows:
        cols = ", ".join(["month", *row])
        marks = ", ".join("?" * (len(row) + 1))
        con.execute(f"INSERT INTO raw.{table} ({cols}) VALUES ({marks})", [M, *row.values()])


@pytest.fixture
def hand_made(tmp_path):
    """A warehouse holding the hand-made month's raw tables (edge cases included: a missing
    EXT_SOURCE, the DAYS_EMPLOYED sentinel, an unlabelled applicant with no child rows)."""
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    ensure_raw_tables(con)
    # Every integer column filled, as a landing file must (the store's contract holds features
    # copied from them non-null); the ratings sit in their 1-3 range.
    integers = {c: 0 for c, t in TABLES["application"].dtypes.items()
                if t == "int64" and c != "SK_ID_CURR"}  # fmt: skip
    base = {**integers, "REGION_RATING_CLIENT": 2, "REGION_RATING_CLIENT_W_CITY": 2,
            "TARGET": 0, "AMT_INCOME_TOTAL": 100000.0, "AMT_CREDIT": 500000.0,
            "AMT_ANNUITY": 25000.0, "AMT_GOODS_PRICE": 450000.0, "DAYS_BIRTH": -10000,
            "CNT_FAM_MEMBERS": 2.0, "EXT_SOURCE_1": None, "EXT_SOURCE_2": 0.6,
            "EXT_SOURCE_3": 0.2}  # fmt: skip
    insert(con, "application", [
        {"SK_ID_CURR": 1, **base, "DAYS_EMPLOYED": -2000},
        {"SK_ID_CURR": 2, **base, "TARGET": None, "DAYS_EMPLOYED": 365243},
    ])  # fmt: skip
    insert(con, "bureau", [
        {"SK_ID_CURR": 1, "SK_ID_BUREAU": 10, "CREDIT_ACTIVE": "Active", "DAYS_CREDIT": -100,
         "CREDIT_DAY_OVERDUE": 5, "AMT_CREDIT_SUM": 1000.0, "AMT_CREDIT_SUM_DEBT": 400.0},
        {"SK_ID_CURR": 1, "SK_ID_BUREAU": 11, "CREDIT_ACTIVE": "Closed", "DAYS_CREDIT": -800,
         "CREDIT_DAY_OVERDUE": 0, "AMT_CREDIT_SUM": 3000.0, "AMT_CREDIT_SUM_DEBT": 0.0},
    ])  # fmt: skip
    insert(con, "bureau_balance", [
        {"SK_ID_BUREAU": 10, "MONTHS_BALANCE": 0, "STATUS": "0"},
        {"SK_ID_BUREAU": 10, "MONTHS_BALANCE": -1, "STATUS": "2"},
        {"SK_ID_BUREAU": 10, "MONTHS_BALANCE": -20, "STATUS": "4"},  # outside the 12-month window
        {"SK_ID_BUREAU": 11, "MONTHS_BALANCE": 0, "STATUS": "C"},
    ])  # fmt: skip
    insert(con, "previous_application", [
        {"SK_ID_PREV": 100, "SK_ID_CURR": 1, "NAME_CONTRACT_STATUS": "Approved",
         "AMT_APPLICATION": 900.0, "AMT_CREDIT": 1000.0, "DAYS_DECISION": -50},
        {"SK_ID_PREV": 101, "SK_ID_CURR": 1, "NAME_CONTRACT_STATUS": "Refused",
         "AMT_APPLICATION": 500.0, "AMT_CREDIT": 500.0, "DAYS_DECISION": -400},
        {"SK_ID_PREV": 102, "SK_ID_CURR": 1, "NAME_CONTRACT_STATUS": "Refused",
         "AMT_APPLICATION": 100.0, "AMT_CREDIT": 200.0, "DAYS_DECISION": -30},
    ])  # fmt: skip
    insert(con, "installments_payments", [
        {"SK_ID_PREV": 100, "SK_ID_CURR": 1, "DAYS_INSTALMENT": -60.0, "DAYS_ENTRY_PAYMENT": -50.0,
         "AMT_INSTALMENT": 100.0, "AMT_PAYMENT": 100.0},
        {"SK_ID_PREV": 100, "SK_ID_CURR": 1, "DAYS_INSTALMENT": -30.0, "DAYS_ENTRY_PAYMENT": -35.0,
         "AMT_INSTALMENT": 100.0, "AMT_PAYMENT": 50.0},
    ])  # fmt: skip
    insert(con, "credit_card_balance", [
        {"SK_ID_PREV": 100, "SK_ID_CURR": 1, "MONTHS_BALANCE": -1, "AMT_BALANCE": 50.0,
         "AMT_CREDIT_LIMIT_ACTUAL": 100, "SK_DPD": 0},
        {"SK_ID_PREV": 100, "SK_ID_CURR": 1, "MONTHS_BALANCE": -10, "AMT_BALANCE": 100.0,
         "AMT_CREDIT_LIMIT_ACTUAL": 100, "SK_DPD": 3},
    ])  # fmt: skip
    insert(con, "pos_cash_balance", [
        {"SK_ID_PREV": 100, "SK_ID_CURR": 1, "MONTHS_BALANCE": -2, "SK_DPD": 7,
         "NAME_CONTRACT_STATUS": "Active", "CNT_INSTALMENT_FUTURE": 4.0},
        {"SK_ID_PREV": 100, "SK_ID_CURR": 1, "MONTHS_BALANCE": -30, "SK_DPD": 0,
         "NAME_CONTRACT_STATUS": "Completed", "CNT_INSTALMENT_FUTURE": 0.0},
    ])  # fmt: skip
    con.close()
    return path


@pytest.fixture
def features(hand_made):
    con = duckdb.connect(str(hand_made))
    build = build_month(con, M)
    assert build.published, [c.description for c in build.checks if not c.passed]
    frame = con.execute(f"SELECT * FROM {STORE} ORDER BY SK_ID_CURR").df().set_index("SK_ID_CURR")
    con.close()
    return frame


def test_store_has_the_catalog_columns(features):
    assert list(features.columns) == ["month", "feature_schema_version", *STORE_COLUMNS[1:]]


def test_days_employed_sentinel_becomes_null_plus_flag(features):
    assert features.loc[1, "DAYS_EMPLOYED"] == -2000 and features.loc[1, "DAYS_EMPLOYED_ANOM"] == 0
    assert pd.isna(features.loc[2, "DAYS_EMPLOYED"])
    assert features.loc[2, "DAYS_EMPLOYED_ANOM"] == 1
    assert features.loc[1, "DAYS_EMPLOYED_PERC"] == pytest.approx(0.2)  # -2000 / -10000


def test_application_ratios(features):
    row = features.loc[1]
    assert row["CREDIT_INCOME_RATIO"] == pytest.approx(5.0)
    assert row["ANNUITY_INCOME_RATIO"] == pytest.approx(0.25)
    assert row["CREDIT_TERM"] == pytest.approx(0.05)
    assert row["GOODS_CREDIT_RATIO"] == pytest.approx(0.9)
    assert row["INCOME_PER_PERSON"] == pytest.approx(50000.0)
    assert row["EXT_SOURCE_MEAN"] == pytest.approx(0.4)  # mean of the two present scores
    assert row["EXT_SOURCE_MIN"] == pytest.approx(0.2)


def test_bureau_and_balance_aggregates(features):
    row = features.loc[1]
    assert row["BURO_COUNT"] == 2 and row["BURO_ACTIVE_COUNT"] == 1
    assert row["BURO_OVERDUE_COUNT"] == 1 and row["BURO_COUNT_LAST_YEAR"] == 1
    assert row["BURO_DAYS_CREDIT_MEAN"] == pytest.approx(-450.0)
    assert row["BURO_DEBT_CREDIT_RATIO"] == pytest.approx(0.1)  # 400 / 4000
    assert row["BB_MONTHS_COUNT"] == 4 and row["BB_DPD_MONTHS"] == 2
    assert row["BB_DPD_SHARE"] == pytest.approx(0.5)
    assert row["BB_WORST_STATUS_12M"] == 2  # the 4 is 20 months old


def test_previous_application_split_by_outcome(features):
    row = features.loc[1]
    assert (row["PREV_COUNT"], row["PREV_APPROVED_COUNT"], row["PREV_REFUSED_COUNT"]) == (3, 1, 2)
    assert row["PREV_REFUSED_SHARE"] == pytest.approx(2 / 3)
    assert row["PREV_REFUSED_LAST_YEAR"] == 1
    assert row["PREV_APPROVED_CREDIT_TOTAL"] == pytest.approx(1000.0)
    assert row["PREV_APP_CREDIT_RATIO_MEAN"] == pytest.approx((0.9 + 1.0 + 0.5) / 3)


def test_instalments_cards_and_pos(features):
    row = features.loc[1]
    assert row["INST_LATE_SHARE"] == pytest.approx(0.5)  # paid 10 days after the first due date
    assert row["INST_DAYS_LATE_MEAN"] == pytest.approx(5.0)  # (10 + 0) / 2
    assert row["INST_DAYS_LATE_MAX"] == pytest.approx(10.0)
    assert row["INST_SHORT_SHARE"] == pytest.approx(0.5)
    assert row["INST_PAYMENT_RATIO_MEAN"] == pytest.approx(0.75)
    assert row["CC_UTILISATION_MEAN"] == pytest.approx(0.75)
    assert row["CC_UTILISATION_6M"] == pytest.approx(0.5)
    assert row["CC_DPD_MAX"] == 3
    assert row["POS_DPD_MAX"] == 7 and row["POS_DPD_12M"] == 1
    assert row["POS_COMPLETED_SHARE"] == pytest.approx(0.5)


def test_applicant_without_child_rows_has_zero_counts_and_null_means(features):
    row = features.loc[2]
    assert row["BURO_COUNT"] == 0 and row["PREV_COUNT"] == 0 and row["INST_COUNT"] == 0
    assert pd.isna(row["INST_LATE_SHARE"])  # unknown, not zero
    assert pd.isna(row["TARGET"])  # outcome not known yet stays null


def _twin(engine: str, con: duckdb.DuckDBPyConnection, month: str) -> pd.DataFrame:
    """The month's features by the benchmark's pandas or Polars implementation."""
    if engine == "pandas":
        from benchmarks.pandas_features import feature_frame
        from creditplatform.warehouse.ingest import raw_month_frames

        return feature_frame(raw_month_frames(con, month))
    from benchmarks.polars_features import feature_plan, raw_month_tables

    return feature_plan(raw_month_tables(con, month)).collect().to_pandas()


@pytest.mark.parametrize("engine", ["pandas", "polars"])
def test_benchmark_twins_of_the_feature_sql_give_the_same_values(ingested_history, engine):
    """The benchmark's pandas and Polars implementations are only a fair comparison if they
    compute the same thing."""
    from benchmarks.pandas_features import compare
    from creditplatform.features.store import feature_query

    month = "2024-01"
    with duckdb.connect(str(ingested_history / "warehouse.duckdb"), read_only=True) as con:
        sql = con.execute(feature_query(), {"month": month}).df()
        twin = _twin(engine, con, month)
    assert len(sql) == 400
    assert compare(sql, twin) == {}


@pytest.mark.parametrize("engine", ["pandas", "polars"])
def test_benchmark_twins_follow_sql_null_rules_on_edge_cases(hand_made, engine):
    """The hand-made month: NULL ratios, counts of 0 and NULL sums for an applicant without
    child rows, greatest() over a NULL, as the SQL gives them."""
    from benchmarks.pandas_features import compare
    from creditplatform.features.store import feature_query

    with duckdb.connect(str(hand_made), read_only=True) as con:
        sql = con.execute(feature_query(), {"month": M}).df()
        twin = _twin(engine, con, M)
    assert len(sql) == 2
    assert compare(sql, twin) == {}


def test_a_schema_bump_keeps_the_old_months_readable(data_copy, monkeypatch):
    """Bumping FEATURE_SCHEMA_VERSION moves the old store aside instead of dropping it: the month
    built under v1 stays readable in feature_store_v1, the new store holds only v2 months, and a
    re-delivered month leaves no old-version rows behind either."""
    from creditplatform.features import store
    from creditplatform.warehouse.ingest import warehouse_tables
    from creditplatform.warehouse.month_data import forget_downstream

    with duckdb.connect(str(data_copy / "warehouse.duckdb")) as con:
        assert build_month(con, "2024-01").published
        before = con.execute(f"SELECT count(*) FROM {STORE}").fetchone()[0]
        monkeypatch.setattr(store, "FEATURE_SCHEMA_VERSION", 2)
        assert build_month(con, "2024-01").published  # re-materialised under v2
        archived = con.execute(
            f"SELECT month, feature_schema_version, count(*) FROM {store.ARCHIVE_PREFIX}1 "
            "GROUP BY ALL"
        ).fetchall()
        assert archived == [("2024-01", 1, before)]
        assert con.execute(f"SELECT DISTINCT feature_schema_version FROM {STORE}").fetchall() == [
            (2,)
        ]
        assert forget_downstream(con, "2024-01", warehouse_tables(con)) == 2 * before
        assert con.execute(f"SELECT count(*) FROM {store.ARCHIVE_PREFIX}1").fetchone()[0] == 0


def test_a_schema_bump_shows_built_months_stale_in_dagster(data_copy, monkeypatch):
    """The feature store's code version is the schema version: months materialised under the old
    one are stale (code version changed) once the code location carries the new one."""
    from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
    from dagster._core.loader import LoadingContextForTest

    from creditplatform.definitions import build_definitions
    from creditplatform.features.catalog import FEATURE_SCHEMA_VERSION
    from creditplatform.settings import load_settings

    monkeypatch.setenv("CREDITPLATFORM_DATA_DIR", str(data_copy))
    defs = build_definitions(load_settings())
    key = dg.AssetKey("feature_store")
    assert defs.resolve_assets_def(key).code_versions_by_key[key] == str(FEATURE_SCHEMA_VERSION)
    with dg.instance_for_test() as instance:
        job = defs.resolve_implicit_global_asset_job_def()
        raw = [k for k in defs.resolve_asset_graph().get_all_asset_keys() if k.path[0] == "raw"]
        assert job.execute_in_process(instance=instance, partition_key="2024-01",
                                      asset_selection=[*raw, key]).success  # fmt: skip
        event = instance.get_latest_materialization_event(key).asset_materialization
        assert event.tags["dagster/code_version"] == str(FEATURE_SCHEMA_VERSION)

        def bump(spec: dg.AssetSpec) -> dg.AssetSpec:
            return spec.replace_attributes(code_version="999") if spec.key == key else spec

        bumped = dg.Definitions(
            assets=dg.map_asset_specs(bump, list(defs.assets)), resources=defs.resources
        )
        for definitions, expected in ((defs, StaleStatus.FRESH), (bumped, StaleStatus.STALE)):
            resolver = CachingStaleStatusResolver(
                instance, definitions.resolve_asset_graph(), LoadingContextForTest(instance)
            )
            assert resolver.get_status(key, "2024-01") == expected
