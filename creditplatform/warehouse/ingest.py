"""Ingest one landing month: stage all seven files, run the contracts, publish only if all pass.

The month is published in one transaction that replaces its rows in every ``raw`` table and
removes the month's derived rows (``month_data``), so downstream readers see either the previous
good month or the new one, never a mix, never rows a contract rejected, and never a derived row
of an applicant the new delivery no longer has.
"""

from __future__ import annotations

from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from creditplatform.contracts.lines import with_lines
from creditplatform.contracts.month import validate_month
from creditplatform.contracts.report import StagedTable, TableReport
from creditplatform.contracts.row_counts import HISTORY_MONTHS
from creditplatform.crashpoints import crashpoint
from creditplatform.homecredit import TABLE_NAMES, TABLES, TableSpec
from creditplatform.sql import ident, one_row, scalar
from creditplatform.timing import Phases
from creditplatform.warehouse.engine import transaction
from creditplatform.warehouse.landing import landing_month, sha256_file
from creditplatform.warehouse.month_data import forget_downstream
from creditplatform.warehouse.staging import drop_staged, stage_file

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
    # Rows removed from downstream tables because the month was delivered again.
    downstream_rows_removed: int = 0
    # Wall and process-CPU seconds of "stage", "contracts" and "publish" (timing.Phases).
    phase_seconds: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.reports.values())

    def failure_message(self) -> str:
        """Every error (and warning) with its first failing lines, grouped under the month."""
        lines = [
            v.message
            for r in self.reports.values()
            for v in sorted(r.violations, key=lambda v: v.severity)
        ]
        errors = sum(len(r.errors) for r in self.reports.values())
        return (
            f"month {self.month}: {errors} contract rule(s) failed, nothing published:\n  "
            + "\n  ".join(lines)
        )


def raw_ref(table: str) -> str:
    return f"{RAW_SCHEMA}.{ident(TABLES[table].asset_name)}"


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
    return ", ".join(f"{ident(c)} {t}" for c, t in spec.duckdb_types().items())


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
    counts = one_row(
        con.execute(
            "SELECT "
            + ", ".join(f"count(*) - count({ident(c)})" for c in columns)
            + f" FROM {staged.ref}"
        )
    )
    label_rate = None
    if "TARGET" in columns:
        label_rate = scalar(con.execute(f'SELECT avg("TARGET") FROM {staged.ref}'))
    nulls = {c: int(n) for c, n in zip(columns, counts, strict=True) if n}
    return TableSummary(staged.report.rows, nulls, label_rate)


def recent_counts(con: duckdb.DuckDBPyConnection, month: str) -> dict[str, list[tuple[int, int]]]:
    """Per table, (rows, applications) of the HISTORY_MONTHS published months before ``month``.

    Read from ``raw.ingestions`` (the latest publish of each month counts), so a month's row
    counts are judged against what the provider lately sent, not a fixed number.
    """
    latest = con.execute(
        f"SELECT month, table_name, arg_max(rows, ingested_at) FROM {RAW_SCHEMA}.ingestions "
        "WHERE month < ? GROUP BY ALL",
        [month],
    ).fetchall()
    counts: dict[str, dict[str, int]] = {}
    for key, table, rows in latest:
        counts.setdefault(key, {})[table] = int(rows)
    recent = sorted((m for m, c in counts.items() if "application" in c), reverse=True)
    history: dict[str, list[tuple[int, int]]] = {}
    for key in recent[:HISTORY_MONTHS]:
        for table, rows in counts[key].items():
            history.setdefault(table, []).append((rows, counts[key]["application"]))
    return history


def _publish(
    con: duckdb.DuckDBPyConnection, month: str, staged: dict[str, Any], run_id: str
) -> int:
    """Replace the month in raw and drop its derived rows, in one transaction; rows dropped."""
    now = datetime.now(UTC)
    present = warehouse_tables(con)
    with transaction(con):
        removed = forget_downstream(con, month, present)
        for name, table in staged.items():
            cols = ", ".join(ident(c) for c in table.spec.columns)
            con.execute(f"DELETE FROM {raw_ref(name)} WHERE month = ?", [month])
            con.execute(
                f"INSERT INTO {raw_ref(name)} SELECT ? AS month, {cols} FROM {table.ref}", [month]
            )
            con.execute(
                f"INSERT INTO {RAW_SCHEMA}.ingestions VALUES (?, ?, ?, ?, ?, ?)",
                [month, name, table.report.rows, table.report.sha256, now, run_id],
            )
        crashpoint("ingest_publish")
    return removed


def ingest_month_stages(
    con: duckdb.DuckDBPyConnection, landing_dir: Path, month: str, run_id: str = ""
) -> Generator[MonthIngest, None, None]:
    """Stage and validate one month, then (if every contract passes) publish it, in two steps
    for a caller with work of its own to do while the month is written.

    The first result is the month validated (every contract evaluated, ``published`` False).
    If it passed, publishing starts on a worker thread before that result is handed over
    (DuckDB writes without holding the GIL, so the caller's Python work, such as Dagster
    recording the check results, overlaps it), and the second result is the month published.
    The caller must not use ``con`` in between. Staging is dropped whatever happens.
    """
    landing = landing_month(landing_dir, month)
    suffix = month.replace("-", "_")
    ensure_raw_tables(con)
    names = {name: f"staging_{name}_{suffix}" for name in TABLE_NAMES}
    phases = Phases()
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="landing-sha256") as hashing:
            digests = {n: hashing.submit(sha256_file, landing.file(n)) for n in TABLE_NAMES}
            staged = {
                name: stage_file(con, TABLES[name], landing.file(name), names[name])
                for name in TABLE_NAMES
            }
            for name, table in staged.items():
                table.report.sha256 = digests[name].result()
        phases.mark("stage")
        validate_month(con, staged, recent_counts(con, month))
        for table in staged.values():
            if table.report.violations:
                table.report.violations = with_lines(
                    Path(table.report.path), table.report.violations
                )
        summaries = {n: _summarise(con, t) for n, t in staged.items() if t.report.passed}
        phases.mark("contracts")
        result = MonthIngest(
            month, {n: t.report for n, t in staged.items()}, summaries, False,
            phase_seconds=dict(phases.seconds),
        )  # fmt: skip
        if not result.passed:
            yield result
            return
        with ThreadPoolExecutor(1, thread_name_prefix="publish") as publisher:
            publishing = publisher.submit(_publish, con, month, staged, run_id)
            try:
                yield result
            finally:
                removed = publishing.result()  # never leave ``con`` in use on the worker
                phases.mark("publish")  # with whatever the caller did meanwhile
        result.downstream_rows_removed = removed
        result.phase_seconds = phases.seconds
        result.published = True
        yield result
    finally:
        for name in names.values():
            drop_staged(con, name)


def ingest_month(
    con: duckdb.DuckDBPyConnection, landing_dir: Path, month: str, run_id: str = ""
) -> MonthIngest:
    """Stage, validate and (if every contract passes) publish one month; staging is dropped."""
    with closing(ingest_month_stages(con, landing_dir, month, run_id)) as stages:
        return list(stages)[-1]
