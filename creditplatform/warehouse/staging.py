"""Parse one landing CSV into a typed staging table, turning every parse problem into a violation.

DuckDB reads the file and stores what it cannot read (invalid UTF-8, rows with missing or extra
fields, a text value in a numeric column) in a rejects table, which gives the exact line and raw
text of each bad row in one pass over the file. Integer columns are read as text and accepted
only as integer literals: DuckDB's own cast would round ``1.5`` to 2 and read ``0x10`` as 16.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from creditplatform.contracts.lines import MAX_TEXT
from creditplatform.contracts.report import (
    COLUMN,
    COLUMNS_AND_TYPES,
    FILE,
    MAX_CASES,
    StagedTable,
    TableReport,
    Violation,
)
from creditplatform.homecredit import TableSpec
from creditplatform.sql import ident, literal, one_row, scalar

BOM = b"\xef\xbb\xbf"
INTEGER_LITERAL = "[+-]?[0-9]+"
_REJECT_RULES = {
    "CAST": "parses_as_declared_type",
    "MISSING COLUMNS": "row_has_all_fields",
    "TOO MANY COLUMNS": "row_has_no_extra_fields",
    "INVALID ENCODING": "utf8_encoded",
    "INVALID UNICODE": "utf8_encoded",
    "UNQUOTED VALUE": "well_formed_quoting",
    "LINE SIZE OVER MAXIMUM": "line_size_within_limit",
}


def _violation(
    spec: TableSpec, column: str | None, rule: str, count: int, cases: list[Any], level: str = FILE
) -> Violation:
    return Violation(spec.name, COLUMNS_AND_TYPES, column, rule, count, cases, level)


def _header_violations(spec: TableSpec, path: Path) -> list[Violation]:
    with path.open("rb") as handle:
        raw = handle.readline().removeprefix(BOM)
    if not raw.strip():
        size = path.stat().st_size
        return [_violation(spec, None, "file_not_empty", 1, [{"file": path.name, "bytes": size}])]
    try:
        header = raw.decode("utf-8").rstrip("\r\n").split(",")
    except UnicodeDecodeError as err:
        return [_violation(spec, None, "utf8_encoded", 1, [{"line": 1, "error": str(err)}])]
    line = {"line": 1, "text": ",".join(header)[:MAX_TEXT]}
    header = [h.strip().strip('"') for h in header]
    expected = list(spec.columns)
    missing = [c for c in expected if c not in header]
    extra = [c for c in header if c not in expected]
    found = [
        _violation(spec, c, "column_present", 1, [{**line, "missing_column": c}], COLUMN)
        for c in missing
    ]
    found += [
        _violation(spec, c, "no_unexpected_column", 1, [{**line, "extra_column": c}], COLUMN)
        for c in extra
    ]
    if not found and header != expected:
        pairs = enumerate(zip(expected, header, strict=True), start=1)
        moved = [{"position": i, "expected": e, "found": h} for i, (e, h) in pairs if e != h]
        found.append(
            _violation(spec, str(moved[0]["found"]), "column_order", len(moved), moved, COLUMN)
        )
    return found


def _reject_violations(con: duckdb.DuckDBPyConnection, spec: TableSpec, rejects: str) -> list[Any]:
    """One violation per kind of unreadable row (per column for a value that does not parse).

    A truncated row is one reject per missing field; grouping by line makes it one case.
    """
    groups = con.execute(
        "SELECT error_type, CASE WHEN error_type = 'CAST' THEN column_name END AS col, "
        f"count(DISTINCT line) FROM {rejects} GROUP BY ALL ORDER BY 3 DESC"
    ).fetchall()
    found: list[Violation] = []
    for error_type, column, count in groups:
        cases = con.execute(
            f"SELECT line, any_value(csv_line), any_value(error_message) FROM {rejects} "
            "WHERE error_type = ? AND (? IS NULL OR column_name = ?) GROUP BY line "
            "ORDER BY line LIMIT ?",
            [error_type, column, column, MAX_CASES],
        ).fetchall()
        rule = _REJECT_RULES.get(str(error_type), str(error_type).lower().replace(" ", "_"))
        if rule == "parses_as_declared_type":
            rule = f"parses_as_{spec.dtypes.get(column, 'declared type')}"
        lines = [{"line": ln, "text": text[:200], "error": msg[:300]} for ln, text, msg in cases]
        found.append(Violation(spec.name, COLUMNS_AND_TYPES, column, rule, int(count), lines))
    return found


def _bad_integer(column: str) -> str:
    """Name of the staged column that keeps an integer column's text where it is not one."""
    return f"{column}__not_an_integer"


def _select(spec: TableSpec) -> str:
    """Typed columns, plus for each integer column its raw text where that is no integer
    literal within BIGINT (NULL elsewhere): one scan parses, checks and converts."""
    parts = []
    for column in spec.columns:
        if spec.dtypes[column] != "int64":
            parts.append(ident(column))
            continue
        c = ident(column)
        parts.append(f"TRY_CAST({c} AS BIGINT) AS {c}")
        # Text the integer prints back as is an integer literal: a cast and a compare, cheaper
        # than the regular expression, which is left for the rest ("+5", "007", "1.5", ...).
        parts.append(
            f"CASE WHEN {c} IS NULL OR CAST(TRY_CAST({c} AS BIGINT) AS VARCHAR) = {c} THEN NULL "
            f"WHEN regexp_full_match({c}, {literal(INTEGER_LITERAL)}) "
            f"AND TRY_CAST({c} AS BIGINT) IS NOT NULL THEN NULL ELSE {c} END "
            f"AS {ident(_bad_integer(column))}"
        )
    return ", ".join(parts)


def _integer_violations(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, ref: str
) -> list[Violation]:
    """Integer columns whose text is not an integer literal within BIGINT."""
    columns = [c for c in spec.columns if spec.dtypes[c] == "int64"]
    if not columns:
        return []
    bad = [ident(_bad_integer(c)) for c in columns]
    counts = one_row(con.execute(f"SELECT {', '.join(f'count({b})' for b in bad)} FROM {ref}"))
    found = []
    for column, text, count in zip(columns, bad, counts, strict=True):
        if count:
            rows = con.execute(
                f"SELECT _row, {text} FROM {ref} WHERE {text} IS NOT NULL "
                f"ORDER BY _row LIMIT {MAX_CASES}"
            ).fetchall()
            cases = [{"row": row, "value": value} for row, value in rows]
            found.append(
                Violation(spec.name, COLUMNS_AND_TYPES, column, "integer_literal", count, cases)
            )
    return found


def _read_csv(spec: TableSpec, rejects: str) -> str:
    """``read_csv`` of the bound path with every column's type given, integers as text."""
    types = ", ".join(
        f"{literal(c)}: {literal('VARCHAR' if t == 'BIGINT' else t)}"
        for c, t in spec.duckdb_types().items()
    )
    return (
        f"read_csv(?, header = true, auto_detect = false, columns = {{{types}}}, "
        "delim = ',', quote = '\"', escape = '\"', store_rejects = true, "
        f"rejects_table = {literal(rejects)}, rejects_scan = {literal(rejects + '_scan')})"
    )


def _rows(name: str) -> str:
    """The staged table under the view ``name`` (which adds ``_row``)."""
    return ident(f"{name}__rows")


def drop_staged(con: duckdb.DuckDBPyConnection, name: str) -> None:
    con.execute(f"DROP VIEW IF EXISTS {ident(name)}; DROP TABLE IF EXISTS {_rows(name)}")


def stage_file(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, path: Path, name: str
) -> StagedTable:
    """Load ``path`` into temporary table ``name`` with a ``_row`` column (1-based data row)
    and, per integer column, a ``<column>__not_an_integer`` column (readers name their columns).

    Temporary, so the month is written to the warehouse file once (at publish), not twice;
    DuckDB keeps insertion order, so published rows stay in file order without a sort, and a
    row's ``rowid`` in the staged table is its place in the file: ``_row`` is a view's
    ``rowid + 1``, not a stored ``row_number() OVER ()`` (a window over the whole file that
    doubled the parse time). ``drop_staged`` removes both.
    """
    report = TableReport(spec.name, str(path), "")  # its SHA-256 is the caller's
    report.evaluated.add(COLUMNS_AND_TYPES)
    with path.open("rb") as handle:
        report.byte_order_mark = handle.read(len(BOM)) == BOM
    ref = ident(name)
    staged = StagedTable(spec, ref, report)
    report.violations += _header_violations(spec, path)
    if report.violations:
        return staged
    rejects = f"rejects_{spec.asset_name}"
    con.execute(f"DROP TABLE IF EXISTS {rejects}; DROP TABLE IF EXISTS {rejects}_scan")
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_rows(name)} AS SELECT {_select(spec)} "
            f"FROM {_read_csv(spec, rejects)}",
            [str(path)],
        )
        con.execute(f"CREATE OR REPLACE TEMP VIEW {ref} AS SELECT rowid + 1 AS _row, * "
                    f"FROM {_rows(name)}")  # fmt: skip
    except duckdb.Error as err:
        report.violations.append(_violation(spec, None, "readable_csv", 1, [{"error": str(err)}]))
        return staged
    report.violations += _reject_violations(con, spec, rejects)
    report.violations += _integer_violations(con, spec, ref)
    report.rows = scalar(con.execute(f"SELECT count(*) FROM {ref}"))
    return staged
