"""Every class of bad landing, run the way a user runs it: ``creditplatform ingest --month``.

The base is a platform mid-life: two months ingested, a champion trained on them, the second
month scored and drift-checked. Each case lands month 2024-03 with one defect and proves:
the command exits 1; its message names the table, column, rule and the failing file line;
2024-03 has no row in raw, features, scores or drift; the other months' rows and the champion
are untouched; and the good files, landed again, ingest cleanly. Accepted oddities (CRLF,
byte-order mark, quoted newlines, a blank last line, a sparse child table, ...) must land with
exactly the values the file holds.

Every case runs through the ingest core the command's run calls (``ingest_month`` then
``build_month`` on the same warehouse), which prints the command's message; one case per class
also runs through the command itself (a Dagster run on the real instance: exit code, no retry,
champion untouched). The command's part is the same for every case of a class (the step raises
the core's refusal as a final failure), and running it for all of them cost ~12 minutes of the
slow tier's CPU (15 s a case), a quarter of CI's budget, to repeat that.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from creditplatform.cli import main
from creditplatform.definitions import build_definitions
from creditplatform.features.store import STORE, build_month
from creditplatform.homecredit import TABLES
from creditplatform.settings import load_settings
from creditplatform.warehouse.ingest import ingest_month, raw_ref
from creditplatform.warehouse.landing import LandingError, land_month
from creditplatform.warehouse.month_data import DRIFT_TABLE, SCORES
from creditplatform_tests.conftest import point_at
from creditplatform_tests.landing_cases import (
    BAD,
    COLUMN_RULES,
    cell,
    line_edit,
    raw_bytes,
)

MONTH = "2024-03"
CLI, CORE = "cli", "core"
OTHER_MONTHS = ("2024-01", "2024-02")
DOWNSTREAM = (STORE, SCORES, DRIFT_TABLE)
ALL_TABLES = [raw_ref(t) for t in TABLES] + list(DOWNSTREAM)


@pytest.fixture
def platform(platform_base, _isolated_data_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """A private copy of the base at this test's data dir, with the CLI pointed at it."""
    base, source = platform_base
    shutil.copytree(base, _isolated_data_dir)
    point_at(monkeypatch, _isolated_data_dir)
    return Platform(_isolated_data_dir, source)


@dataclass
class Platform:
    data: Path
    source: Path

    @property
    def landing(self) -> Path:
        return self.data / "landing" / MONTH

    def land_good(self) -> None:
        land_month(self.source, self.data / "landing", MONTH)

    def ingest(self, capsys, route: str) -> tuple[int, str]:
        """Ingest MONTH by ``route``: the command's exit code and what it printed."""
        if route == CLI:
            capsys.readouterr()
            code = main(["ingest", "--month", MONTH])
            return code, capsys.readouterr().err
        try:
            with duckdb.connect(str(self.data / "warehouse.duckdb")) as con:
                result = ingest_month(con, self.data / "landing", MONTH)
                if not result.published:
                    return 1, result.failure_message()
                built = build_month(con, MONTH)
                return (0, "") if built.published else (1, str(built.checks))
        except LandingError as err:
            return 1, str(err)

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        return self.queries({sql: (sql, params or [])})[sql]

    def queries(self, named: dict[str, tuple[str, list]]) -> dict[str, list[tuple]]:
        """Several queries on one read-only connection (opening the file is the slow part);
        a query named after a table of ALL_TABLES is skipped while that table does not exist."""
        with duckdb.connect(str(self.data / "warehouse.duckdb"), read_only=True) as con:
            present = {
                r[0]
                for r in con.execute(
                    "SELECT schema_name || '.' || table_name FROM duckdb_tables()"
                ).fetchall()
            }
            return {
                name: con.execute(sql, params).fetchall()
                for name, (sql, params) in named.items()
                if name not in ALL_TABLES or name.replace('"', "") in present
            }

    def month_rows(self, month: str = MONTH) -> dict[str, int]:
        """Rows of ``month`` in every raw and downstream table present."""
        sql = "SELECT count(*) FROM {} WHERE month = ?"
        found = self.queries({t: (sql.format(t), [month]) for t in ALL_TABLES})
        return {t: rows[0][0] for t, rows in found.items()}

    def other_months(self) -> dict[str, tuple]:
        return self.other_months_than(MONTH)

    def other_months_than(self, month: str) -> dict[str, tuple]:
        """Count and an order-free content hash of the months other than ``month``, per table."""
        sql = "SELECT count(*), sum(hash(x)) FROM {} x WHERE month <> ?"
        found = self.queries({t: (sql.format(t), [month]) for t in ALL_TABLES})
        return {t: rows[0] for t, rows in found.items()}

    def last_run_retries(self) -> int:
        """Steps put up for retry in the instance's newest run."""
        with dg.DagsterInstance.get() as instance:
            run = instance.get_runs(limit=1)[0]
            return len(instance.get_records_for_run(
                run.run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY
            ).records)  # fmt: skip

    def champion(self) -> tuple:
        registry = build_definitions(load_settings()).resources["mlflow_tracking"].registry()
        champion = registry.champion()
        audits = self.query("SELECT count(*) FROM audit.promotions")[0][0]
        return (champion.version if champion else None, audits)


# One case per class goes through the command as well as the core: a file, a row that does not
# parse, a value rule, a key, and an odd file that is accepted.
CLI_CASES = {"missing_file", "short_row_mid_file", "nan_literal", "mismatched_key_pair",
             "byte_order_mark"}  # fmt: skip


def _routes(cases: dict) -> list:
    return [pytest.param(case, CORE, id=f"{case}-core") for case in cases] + [
        pytest.param(case, CLI, id=f"{case}-cli") for case in cases if case in CLI_CASES
    ]


@pytest.mark.parametrize(("case", "route"), _routes(BAD))
def test_bad_landing_is_refused_where_it_is_and_loses_nothing(platform, capsys, case, route):
    bad = BAD[case]
    others = platform.other_months()
    champion = platform.champion() if route == CLI else None
    platform.land_good()
    bad.spoil(platform.landing)

    code, said = platform.ingest(capsys, route)

    assert code == 1, said
    assert bad.table in said and bad.rule in said, said
    if bad.column:
        assert f"{bad.table}.{bad.column}" in said, said
    if bad.line:
        assert f"line {bad.line}:" in said, said
    if bad.rule in COLUMN_RULES:
        assert "column-level rule" in said, said
    elif "contract rule(s) failed" in said:
        assert said.count(f"rule {bad.rule}") == 1, "one message per rule, not per field"
    assert not any(platform.month_rows().values()), platform.month_rows()
    assert platform.other_months() == others
    if route == CLI:
        assert platform.champion() == champion
        assert platform.last_run_retries() == 0, "a bad landing is final: the step never retries"

    platform.land_good()
    code, said = platform.ingest(capsys, route)
    assert code == 0, said
    good = {t: len(pd.read_csv(platform.landing / s.file_name)) for t, s in TABLES.items()}
    rows = platform.month_rows()
    assert {t: rows[raw_ref(t)] for t in TABLES} == good
    assert rows[STORE] == good["application"]


def test_the_suite_covers_at_least_forty_bad_landings():
    assert len(BAD) >= 40


# --- accepted oddities ----------------------------------------------------------------------


def _exact(platform: Platform, table: str) -> None:
    """The raw month equals the file as pandas reads it with exact float parsing."""
    expected = pd.read_csv(
        platform.landing / TABLES[table].file_name, float_precision="round_trip",
        encoding="utf-8-sig", dtype={c: "Int64" for c, t in TABLES[table].dtypes.items()
                                     if t == "int64"},
    )  # fmt: skip
    with duckdb.connect(str(platform.data / "warehouse.duckdb"), read_only=True) as con:
        stored = con.execute(
            f"SELECT * EXCLUDE (month) FROM {raw_ref(table)} WHERE month = ?", [MONTH]
        ).df()
    pd.testing.assert_frame_equal(
        stored.reset_index(drop=True), expected, check_dtype=False, check_exact=True
    )


def _value(platform: Platform, table: str, column: str, row: int = 3):
    """The stored value of data row ``row`` (file order is kept)."""
    return platform.query(
        f'SELECT "{column}" FROM {raw_ref(table)} WHERE month = ? LIMIT 1 OFFSET ?',
        [MONTH, row - 1],
    )[0][0]


def _crlf(b: bytes) -> bytes:
    return b.replace(b"\n", b"\r\n")


def _keep_first_rows(table: str, n: int) -> Callable[[Path], None]:
    return line_edit(table, lambda ls: ls[: n + 1])


ACCEPTED: dict[str, tuple[Callable[[Path], None], Callable[[Platform], None]]] = {
    "crlf_line_endings": (raw_bytes("application", _crlf), lambda p: _exact(p, "application")),
    "byte_order_mark": (raw_bytes("bureau", lambda b: b"\xef\xbb\xbf" + b),
                        lambda p: _exact(p, "bureau")),
    "blank_last_line": (raw_bytes("previous_application", lambda b: b + b"\n"),
                        lambda p: _exact(p, "previous_application")),
    "quoted_comma_and_newline": (
        cell("application", "ORGANIZATION_TYPE", '"Business, ""Type""\n3"'),
        lambda p: _value(p, "application", "ORGANIZATION_TYPE") == 'Business, "Type"\n3'
        or pytest.fail("quoted text changed")),
    "sparse_child_table": (_keep_first_rows("credit_card_balance", 3),
                           lambda p: _exact(p, "credit_card_balance")),
    "sentinel_days_employed": (cell("application", "DAYS_EMPLOYED", "365243"),
                               lambda p: _value(p, "application", "DAYS_EMPLOYED") == 365243
                               or pytest.fail("sentinel changed")),
    "quoted_integer": (cell("bureau", "CNT_CREDIT_PROLONG", '"5"'),
                       lambda p: _exact(p, "bureau")),
    "scientific_float": (cell("application", "AMT_CREDIT", "1.5E5"),
                         lambda p: _value(p, "application", "AMT_CREDIT") == 150000.0
                         or pytest.fail("float changed")),
    "blank_optional_float": (cell("application", "EXT_SOURCE_3", ""),
                             lambda p: _value(p, "application", "EXT_SOURCE_3") is None
                             or pytest.fail("blank is not NULL")),
    "xna_gender": (cell("application", "CODE_GENDER", "XNA"),
                   lambda p: _exact(p, "application")),
}  # fmt: skip


@pytest.mark.parametrize(("case", "route"), _routes(ACCEPTED))
def test_odd_but_valid_landing_is_accepted_exactly(platform, capsys, case, route):
    spoil, exact = ACCEPTED[case]
    platform.land_good()
    spoil(platform.landing)
    code, said = platform.ingest(capsys, route)
    assert code == 0, said
    exact(platform)
    assert platform.month_rows()[STORE] == platform.month_rows()[raw_ref("application")]


# --- re-delivery ----------------------------------------------------------------------------

REDELIVERED = "2024-02"


def _frames(folder: Path) -> dict[str, pd.DataFrame]:
    return {
        t: pd.read_csv(folder / s.file_name, dtype=str, keep_default_na=False)
        for t, s in TABLES.items()
    }


def _keep_applicants(frames: dict[str, pd.DataFrame], keep) -> dict[str, pd.DataFrame]:
    """Every table restricted to the applicants in ``keep`` (bureau balance via its bureau)."""
    out = {t: f[f["SK_ID_CURR"].isin(keep)] for t, f in frames.items() if "SK_ID_CURR" in f}
    out["bureau_balance"] = frames["bureau_balance"][
        frames["bureau_balance"]["SK_ID_BUREAU"].isin(out["bureau"]["SK_ID_BUREAU"])
    ]
    return out


def _fewer(month: dict, _next: dict) -> dict:
    return _keep_applicants(month, month["application"]["SK_ID_CURR"].iloc[:-150])


def _more(month: dict, next_month: dict) -> dict:
    return {t: pd.concat([month[t], next_month[t]]) for t in month}


def _changed(month: dict, _next: dict) -> dict:
    app = month["application"].copy()
    app["AMT_CREDIT"] = (app["AMT_CREDIT"].astype(float) * 1.5).map(repr)
    return {**month, "application": app}


REDELIVERIES = {"fewer_applicants": _fewer, "more_applicants": _more, "changed_values": _changed}


def _deliver(target: Path, frames: dict[str, pd.DataFrame]) -> None:
    """Replace the month folder the way ``land_month`` does: files first, marker last."""
    staging = target.parent / f".{target.name}.new"
    staging.mkdir(parents=True)
    for table, frame in frames.items():
        frame.to_csv(staging / TABLES[table].file_name, index=False)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    (target / "_SUCCESS").touch()


def _month_tables(warehouse: Path, month: str) -> dict[str, pd.DataFrame]:
    """Raw and feature rows of ``month``, in a canonical order."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = {
            t: con.execute(f"SELECT * FROM {t} WHERE month = ? ORDER BY ALL", [month]).df()
            for t in [raw_ref(t) for t in TABLES] + [STORE]
        }
    return tables


@pytest.mark.parametrize(
    ("kind", "route"),
    [pytest.param(k, r, id=f"{k}-{r}",
                  marks=[pytest.mark.slow] if r == CLI and k != "fewer_applicants" else [])
     for k in REDELIVERIES for r in (CORE, CLI)],
)  # fmt: skip
def test_redelivery_replaces_everything_downstream_of_the_month(
    platform, capsys, tmp_path, kind, route
):
    landing = platform.data / "landing"
    drift_page = platform.data / "reports" / "drift" / REDELIVERED
    assert drift_page.exists() and platform.month_rows(REDELIVERED)[SCORES] > 0
    new = REDELIVERIES[kind](_frames(landing / REDELIVERED), _frames(platform.source / MONTH))
    _deliver(landing / REDELIVERED, new)
    others = platform.other_months_than(REDELIVERED)

    if route == CLI:
        capsys.readouterr()
        assert main(["ingest", "--month", REDELIVERED]) == 0, capsys.readouterr().err
    else:
        with duckdb.connect(str(platform.data / "warehouse.duckdb")) as con:
            assert ingest_month(con, landing, REDELIVERED).published
            assert build_month(con, REDELIVERED).published

    fresh = tmp_path / "fresh"
    shutil.copytree(landing / REDELIVERED, fresh / "landing" / REDELIVERED)
    with duckdb.connect(str(fresh / "warehouse.duckdb")) as con:
        assert ingest_month(con, fresh / "landing", REDELIVERED).published
        assert build_month(con, REDELIVERED).published
    mine = _month_tables(platform.data / "warehouse.duckdb", REDELIVERED)
    expected = _month_tables(fresh / "warehouse.duckdb", REDELIVERED)
    for table, frame in expected.items():
        # Raw is exact; a feature mean may differ in its last bit, because DuckDB's parallel
        # aggregation sums in an order that depends on what else the table holds.
        exact = table != STORE
        pd.testing.assert_frame_equal(
            mine[table], frame, check_exact=exact, rtol=1e-12, atol=0.0, obj=table
        )
    rows = platform.month_rows(REDELIVERED)
    assert rows[SCORES] == rows[DRIFT_TABLE] == 0  # a fresh ingest has none either
    assert platform.other_months_than(REDELIVERED) == others
    if route == CLI:
        assert not drift_page.exists()
        # Scores follow the new rows: exactly the new applicants, under the same champion.
        assert main(["score", "--month", REDELIVERED]) == 0
        scored = platform.query(
            f"SELECT SK_ID_CURR FROM {SCORES} WHERE month = ? ORDER BY 1", [REDELIVERED]
        )
        assert [r[0] for r in scored] == sorted(new["application"]["SK_ID_CURR"].astype(int))


# --- folders, feature quality ---------------------------------------------------------------


def test_ignored_folders_are_warned_about_and_valid_months_still_ingest(platform, capsys):
    landing = platform.data / "landing"
    platform.land_good()
    for stray in ("1999-12", "2024-13", "notes"):
        (landing / stray).mkdir()
        (landing / stray / "_SUCCESS").touch()
    capsys.readouterr()
    assert main(["ingest"]) == 0
    said = capsys.readouterr().err
    assert "warning: landing folders ignored (not a YYYY-MM month: 2024-13, notes; " in said
    assert "outside the partition range: 1999-12)" in said
    assert f"ingest {MONTH}: ok" in said
    assert platform.month_rows()[raw_ref("application")] > 0

    assert main(["ingest", "--month", "1999-12"]) == 1  # asked for by name: said, not done
    assert "outside the partition range, not ingested: 1999-12" in capsys.readouterr().err


def test_a_moved_feature_warns_against_the_champion_rows_without_blocking(platform, capsys):
    """Credit amounts three times the training ones: published, and the WARN check names it."""
    platform.land_good()
    path = platform.landing / "application.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame["AMT_CREDIT"] = (frame["AMT_CREDIT"].astype(float) * 3).map(repr)
    frame.to_csv(path, index=False)
    code, said = platform.ingest(capsys, CLI)
    assert code == 0, said
    with dg.DagsterInstance.get() as instance:
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("feature_store"), "distribution_vs_reference")]
        )
    evaluation = next(iter(record.values())).event.dagster_event.event_specific_data
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert "from the champion v1 training rows" in evaluation.description
    findings = evaluation.metadata["findings"].value.records
    assert any(r.data["feature"] == "AMT_CREDIT" and r.data["measure"] == "mean" for r in findings)


def test_status_lists_failed_and_missing_months(platform, capsys):
    """After a refused month: status names it failed (raw, and the features the same run was to
    build) and missing where nothing tried yet, and names the month the base never scored."""
    import json

    platform.land_good()
    BAD["nan_literal"].spoil(platform.landing)
    assert platform.ingest(capsys, CLI)[0] == 1
    assert main(["status", "--json"]) == 0
    months = json.loads(capsys.readouterr().out)["months"]
    assert months["failed"] == {"raw": [MONTH], "feature_store": [MONTH]}
    assert months["missing"] == {
        "batch_scores": ["2024-01", MONTH],  # the base scored and drift-checked 2024-02 only
        "drift_report": ["2024-01", MONTH],
    }
    assert main(["status"]) == 0
    assert f"failed raw: {MONTH}" in capsys.readouterr().out
