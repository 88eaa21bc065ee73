"""Ingest one landing month: stage all seven files, run the contracts, publish only if all pass.

The month is published in one transaction that replaces its rows in every ``raw`` table, so
downstream readers see either the previous good month or the new one, never a mix, and never
rows a contract rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from creditplatform.contracts.month import validate_month
from creditplatform.contracts.report import StagedTable, TableReport
from creditplatform.crashpoints import crashpoint
from creditplatform.homecredit import TABLE_NAMES, TABLES, TableSpec
from creditplatform.warehouse.landing import landing_month
from creditplatform.warehouse.staging import stage_file

RAW_SCHEMA = "raw"


@dataclass
class TableSummary:
    rows: int
    null_counts: dict[str, int]
    label_rate: float | None


@dataclass
class MonthIngest:
    month: str
    reports: dict[str, TableReport]
    summaries: dict[str, TableSummary]
    published: bool

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.reports.values())

    def failure_message(self) -> str:
        lines = [v.message for r in self.reports.values() for v in r.violations]
        return f"month {self.month}: contracts failed, nothing published:\n  " + "\n  ".join(lines)


def raw_ref(table: str) -> str:
    return f'{RAW_SCHEMA}."{TABLES[table].asset_name}"'


def warehouse_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """``schema.table`` names present, so readers can tell "not built yet" from "empty"."""
    rows = con.execute("SELECT schema_name || '.' || table_name FROM duckdb_tables()").fetchall()
    return {row[0] for row in rows}


def raw_month_frames(con: duckdb.DuckDBPyConnection, month: str) -> dict[str, pd.DataFrame]:
    """One published month of every raw table, keyed by asset name, without the month column."""
    return {
        spec.asset_name: con.execute(
            f"SELECT * EXCLUDE (month) FROM {raw_ref(name)} WHERE month = ?", [month]
        ).df()
        for name, spec in TABLES.items()
    }


def _column_defs(spec: TableSpec) -> str:
    return ", ".join(f'"{c}" {t}' for c, t in spec.duckdb_types().items())


def ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    for name, spec in TABLES.items():
        columns = f"month VARCHAR NOT NULL, {_column_defs(spec)}"
        con.execute(f"CREATE TABLE IF NOT EXISTS {raw_ref(name)} ({columns})")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.ingestions (month VARCHAR, table_name VARCHAR, "
        "rows BIGINT, sha256 VARCHAR, ingested_at TIMESTAMPTZ, run_id VARCHAR)"
    )


def _summarise(con: duckdb.DuckDBPyConnection, staged: StagedTable) -> TableSummary:
    columns = staged.spec.columns
    counts = con.execute(
        "SELECT " + ", ".join(f'count(*) - count("{c}")' for c in columns) + f" FROM {staged.ref}"
    ).fetchone()
    label_rate = None
    if "TARGET" in columns:
        label_rate = con.execute(f'SELECT avg("TARGET") FROM {staged.ref}').fetchone()[0]
    nulls = {c: int(n) for c, n in zip(columns, counts, strict=True) if n}
    return TableSummary(staged.report.rows, nulls, label_rate)


def _publish(con: duckdb.DuckDBPyConnection, month: str, staged: dict, run_id: str) -> None:
    now = datetime.now(UTC)
    con.execute("BEGIN TRANSACTION")
    try:
        for name, table in staged.items():
            cols = ", ".join(f'"{c}"' for c in table.spec.columns)
            con.execute(f"DELETE FROM {raw_ref(name)} WHERE month = ?", [month])
            con.execute(
                f"INSERT INTO {raw_ref(name)} SELECT ? AS month, {cols} FROM {table.ref}", [month]
            )
            con.execute(
                f"INSERT INTO {RAW_SCHEMA}.ingestions VALUES (?, ?, ?, ?, ?, ?)",
                [month, name, table.report.rows, table.report.sha256, now, run_id],
            )
        crashpoint("ingest_publish")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def ingest_month(
    con: duckdb.DuckDBPyConnection, landing_dir: Path, month: str, run_id: str = ""
) -> MonthIngest:
    """Stage, validate and (if every contract passes) publish one month; staging is dropped."""
    landing = landing_month(landing_dir, month)
    suffix = month.replace("-", "_")
    ensure_raw_tables(con)
    staged = {
        name: stage_file(con, TABLES[name], landing.file(name), f'"staging_{name}_{suffix}"')
        for name in TABLE_NAMES
    }
    validate_month(con, staged)
    summaries = {n: _summarise(con, t) for n, t in staged.items() if t.report.rows}
    result = MonthIngest(month, {n: t.report for n, t in staged.items()}, summaries, False)
    if result.passed:
        _publish(con, month, staged, run_id)
        result.published = True
    for table in staged.values():
        con.execute(f"DROP TABLE IF EXISTS {table.ref}")
    return result
