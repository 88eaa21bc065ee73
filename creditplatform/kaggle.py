"""Split the original Kaggle Home Credit CSVs into monthly landing folders.

The Kaggle data has no application dates, so months are assigned by a fixed rule:

1. ``application_train.csv`` applicants are ordered by ``SK_ID_CURR`` and cut into ``months``
   contiguous blocks of (nearly) equal size: block *i* is month ``start + i``.
2. ``application_test.csv`` applicants, when the file is present, form one more month,
   ``start + months``, with ``TARGET`` empty (their outcome is not known), as recent
   applications are.
3. Each child row follows its applicant: bureau, previous_application, POS_CASH_balance,
   installments_payments and credit_card_balance by ``SK_ID_CURR``; bureau_balance by its
   ``SK_ID_BUREAU``'s bureau row.
4. Rows that cannot be placed are dropped and counted: child rows of an applicant in neither
   application file, bureau_balance rows whose ``SK_ID_BUREAU`` is not in bureau, and monthly
   rows whose ``SK_ID_PREV`` is not in previous_application (the real files have such orphans).

Values are copied as text, byte for byte, so the landing files hold exactly what Kaggle shipped.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from creditplatform.homecredit import TABLE_NAMES, TABLES
from creditplatform.months import month_range
from creditplatform.sql import ident, literal, scalar
from creditplatform.warehouse.landing import SUCCESS_MARKER

_SOURCE = {name: f"{name}.csv" for name in TABLE_NAMES if name != "application"}


@dataclass
class ImportReport:
    months: list[str]
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"imported {len(self.months)} month(s): {self.months[0]} .. {self.months[-1]}"]
        for table, per_month in self.rows.items():
            lines.append(f"  {table}: {sum(per_month.values()):,} rows")
        for table, count in self.dropped.items():
            if count:
                lines.append(f"  {table}: {count:,} orphan rows dropped (no parent to follow)")
        return "\n".join(lines)


def _read(path: Path) -> str:
    return f"read_csv({literal(path)}, all_varchar = true, header = true, auto_detect = true)"


def _cols(table: str, alias: str = "t") -> str:
    return ", ".join(f"{alias}.{ident(c)}" for c in TABLES[table].columns)


def _load_applicants(con: duckdb.DuckDBPyConnection, kaggle: Path, months: list[str]) -> None:
    train = kaggle / "application_train.csv"
    if not train.exists():
        raise FileNotFoundError(f"{train} not found: --kaggle-dir must hold the Kaggle CSVs")
    n_labelled = len(months) - 1 if (kaggle / "application_test.csv").exists() else len(months)
    con.execute(
        f"CREATE TABLE train AS SELECT *, row_number() OVER () AS _line FROM {_read(train)}"
    )
    con.execute(
        "CREATE TABLE application AS SELECT *, "
        f"(row_number() OVER (ORDER BY CAST(SK_ID_CURR AS BIGINT)) - 1) * {n_labelled} "
        "// count(*) OVER () AS _month_index FROM train"
    )
    test = kaggle / "application_test.csv"
    if test.exists():
        con.execute(
            "INSERT INTO application BY NAME SELECT *, NULL AS TARGET, "
            f"1000000000 + row_number() OVER () AS _line, {n_labelled} AS _month_index "
            f"FROM {_read(test)}"
        )
    con.execute(
        "CREATE TABLE applicant_month AS SELECT CAST(SK_ID_CURR AS BIGINT) AS id, _month_index "
        "FROM application"
    )


def _load_child(con: duckdb.DuckDBPyConnection, kaggle: Path, table: str) -> int:
    """Load one child file with its month; return how many rows could not be placed."""
    path = kaggle / _SOURCE[table]
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: --kaggle-dir must hold the Kaggle CSVs")
    source = f"(SELECT *, row_number() OVER () AS _line FROM {_read(path)})"
    if table == "bureau_balance":
        placement = (
            f"SELECT t.*, b._month_index FROM {source} t JOIN bureau b "
            'ON CAST(t."SK_ID_BUREAU" AS BIGINT) = CAST(b."SK_ID_BUREAU" AS BIGINT)'
        )
    else:
        placement = (
            f"SELECT t.*, m._month_index FROM {source} t JOIN applicant_month m "
            'ON CAST(t."SK_ID_CURR" AS BIGINT) = m.id'
        )
        if "SK_ID_PREV" in TABLES[table].columns and table != "previous_application":
            # The row's previous application must exist and belong to the same applicant,
            # or the month's contracts (key pair rule) would refuse it.
            placement += (
                ' WHERE (CAST(t."SK_ID_PREV" AS BIGINT), CAST(t."SK_ID_CURR" AS BIGINT)) IN '
                '(SELECT (CAST("SK_ID_PREV" AS BIGINT), CAST("SK_ID_CURR" AS BIGINT)) '
                "FROM previous_application)"
            )
    con.execute(f"CREATE TABLE {ident(table)} AS {placement}")
    total = scalar(con.execute(f"SELECT count(*) FROM {source}"))
    kept = scalar(con.execute(f"SELECT count(*) FROM {ident(table)}"))
    return total - kept


def import_kaggle(
    kaggle_dir: Path,
    landing_dir: Path,
    months: int,
    start: str,
    say: Callable[[str], None] = lambda _: None,
) -> ImportReport:
    """Write ``landing_dir/<month>/<table>.csv`` + ``_SUCCESS`` by the rule in the module doc."""
    if months < 1:
        raise ValueError("--months must be at least 1")
    has_test = (kaggle_dir / "application_test.csv").exists()
    keys = month_range(start, months + (1 if has_test else 0))
    report = ImportReport(keys)
    with tempfile.TemporaryDirectory() as tmp, duckdb.connect(f"{tmp}/import.duckdb") as con:
        say(f"reading applications from {kaggle_dir}")
        _load_applicants(con, kaggle_dir, keys)
        for table in ("bureau", "bureau_balance", "previous_application", "POS_CASH_balance",
                      "installments_payments", "credit_card_balance"):  # fmt: skip
            say(f"placing {_SOURCE[table]}")
            report.dropped[table] = _load_child(con, kaggle_dir, table)
        for index, month in enumerate(keys):
            folder = landing_dir / month
            folder.mkdir(parents=True, exist_ok=True)
            (folder / SUCCESS_MARKER).unlink(missing_ok=True)
            for table in TABLE_NAMES:
                target = folder / TABLES[table].file_name
                con.execute(
                    f"COPY (SELECT {_cols(table)} FROM {ident(table)} t "
                    f"WHERE _month_index = {literal(index)} ORDER BY _line) "
                    f"TO {literal(target)} (HEADER, DELIMITER ',', QUOTE '\"')"
                )
                count = scalar(
                    con.execute(
                        f"SELECT count(*) FROM {ident(table)} WHERE _month_index = ?", [index]
                    )
                )
                report.rows.setdefault(table, {})[month] = count
            (folder / SUCCESS_MARKER).touch()
            say(f"  {month}: {report.rows['application'][month]:,} applications")
    return report
