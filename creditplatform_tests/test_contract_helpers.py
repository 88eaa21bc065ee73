"""The small pure pieces the contracts stand on: SQL quoting, file lines, row-count rules,
landing inventory and month keys."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np
import pytest

from creditplatform.contracts.lines import locate_rows
from creditplatform.contracts.report import ERROR, WARNING
from creditplatform.contracts.row_counts import HISTORY_BAND, row_count_violations
from creditplatform.months import is_month
from creditplatform.sql import ident, literal, one_row, scalar
from creditplatform.warehouse.landing import SUCCESS_MARKER, landing_inventory


@pytest.mark.parametrize(
    "value",
    ["plain", "it's", 'say "hi"', "a'; DROP TABLE x; --", "", 0, -7, 2.5, 1e-300, True, None,
     np.int64(5), np.float64(0.25), math.inf, -math.inf, Path("/tmp/it's \"odd\"/x.csv")],
)  # fmt: skip
def test_literal_round_trips_through_duckdb(value):
    with duckdb.connect() as con:
        (back,) = con.execute(f"SELECT {literal(value)}").fetchone()
    expected = str(value) if isinstance(value, Path) else value
    assert back == expected


def test_literal_keeps_nan_a_double():
    with duckdb.connect() as con:
        (back,) = con.execute(f"SELECT {literal(math.nan)}").fetchone()
    assert math.isnan(back)


def test_literal_refuses_what_it_cannot_quote():
    with pytest.raises(TypeError, match="no SQL literal"):
        literal(object())


def test_one_row_reads_an_aggregate_and_refuses_no_row():
    with duckdb.connect() as con:
        con.execute("CREATE TABLE t (x INTEGER)")
        assert scalar(con.execute("SELECT count(*) FROM t")) == 0
        assert one_row(con.execute("SELECT count(*), max(x) FROM t")) == (0, None)
        with pytest.raises(RuntimeError, match="returned no row"):
            one_row(con.execute("SELECT x FROM t"))


@pytest.mark.parametrize("name", ["SK_ID_CURR", 'we"ird', "with space", "select"])
def test_ident_names_any_column(name):
    with duckdb.connect() as con:
        con.execute(f"CREATE TABLE t ({ident(name)} INTEGER)")
        assert con.execute("SELECT column_name FROM duckdb_columns()").fetchone()[0] == name


def test_locate_rows_counts_physical_lines(tmp_path):
    """Quoted newlines, CRLF, a byte-order mark and blank lines: rows map to their lines."""
    path = tmp_path / "t.csv"
    path.write_bytes(b'\xef\xbb\xbfa,b\r\n1,"two\r\nlines"\r\n\r\n3,x\r\n4,"q ""x"", y"\r\n')
    found = locate_rows(path, {1, 2, 3})
    assert found == {1: (2, '1,"two\r\nlines"'), 2: (5, "3,x"), 3: (6, '4,"q ""x"", y"')}
    assert locate_rows(path, set()) == {}


def test_row_counts_error_on_empty_and_warn_outside_the_band():
    (empty,) = row_count_violations("bureau", 0, 500, [])
    assert (empty.rule, empty.severity, empty.level) == ("at_least_one_row", ERROR, "file")
    history = [(5000, 1000), (5200, 1000), (4800, 1000)]  # 5 bureau rows per application
    assert row_count_violations("bureau", 2600, 500, history) == []  # 5.2 per application
    (low,) = row_count_violations("bureau", 1000, 1000, history)  # 1 per application
    assert low.severity == WARNING and "within_2x" in low.rule
    assert low.cases[0]["rows per application"] == 1.0
    (jump,) = row_count_violations("application", 3000, 3000, [(1000, 1000)] * 3)
    assert jump.severity == WARNING and jump.cases[0]["accepted"] == "[500, 2e+03]"
    edge = 1000 * HISTORY_BAND
    assert row_count_violations("application", int(edge), int(edge), [(1000, 1000)]) == []


def test_month_keys_are_exact():
    assert is_month("2024-01") and not is_month("2024-01\n") and not is_month("2024-13")
    assert not is_month(" 2024-01") and not is_month("2024-1")


def test_landing_inventory_sorts_valid_ignored_and_in_flight(tmp_path):
    for name in ("2024-01", "2024-02", "2019-01", "notes", ".2024-03.partial"):
        (tmp_path / name).mkdir()
    for name in ("2024-01", "2019-01"):
        (tmp_path / name / SUCCESS_MARKER).touch()
    inventory = landing_inventory(tmp_path, {"2024-01", "2024-02", "2024-03"})
    assert inventory.months == ["2024-01"]  # 2024-02 has no marker yet: not ignored, waiting
    assert inventory.not_a_month == ["notes"] and inventory.out_of_range == ["2019-01"]
    assert inventory.warning() == (
        "landing folders ignored (not a YYYY-MM month: notes; outside the partition range: 2019-01)"
    )
    assert landing_inventory(tmp_path / "absent", set()).warning() is None


def test_month_gaps_name_failed_and_missing_months():
    from creditplatform.status import month_gaps

    landed = ["2024-01", "2024-02", "2024-03"]
    statuses = {
        "raw": {"2024-01": "MATERIALIZED", "2024-02": "MATERIALIZED", "2024-03": "FAILED"},
        "feature_store": {"2024-01": "MATERIALIZED", "2024-02": "IN_PROGRESS"},
        "batch_scores": {"2024-02": "MATERIALIZED"},
    }
    gaps = month_gaps(landed, statuses, has_champion=True)
    assert gaps["failed"] == {"raw": ["2024-03"]}
    assert gaps["missing"] == {
        "feature_store": ["2024-03"],  # 2024-02 is being built: not missing
        "batch_scores": ["2024-01", "2024-03"],
        "drift_report": landed,
    }
    before_champion = month_gaps(landed, statuses, has_champion=False)["missing"]
    assert set(before_champion) == {"feature_store"}  # nothing to score without a champion
