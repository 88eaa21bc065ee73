"""Parse one landing CSV into a typed staging table, turning every parse problem into a violation.

DuckDB reads the file with the declared types and stores what it cannot read (invalid UTF-8,
rows with missing or extra fields, a text value in a numeric column) in a rejects table, which
gives the exact line, column and raw text of each bad row in one pass over the file.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from creditplatform.contracts.report import (
    COLUMNS_AND_TYPES,
    MAX_CASES,
    StagedTable,
    TableReport,
    Violation,
)
from creditplatform.homecredit import TableSpec
from creditplatform.warehouse.landing import sha256_file

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
    spec: TableSpec, column: str | None, rule: str, count: int, cases: list
) -> Violation:
    return Violation(spec.name, COLUMNS_AND_TYPES, column, rule, count, cases)


def _header_violations(spec: TableSpec, path: Path) -> list[Violation]:
    raw = path.open("rb").readline()
    if not raw.strip():
        return [_violation(spec, None, "file_not_empty", 1, [{"file": str(path), "bytes": 0}])]
    try:
        header = raw.decode("utf-8").rstrip("\r\n").split(",")
    except UnicodeDecodeError as err:
        return [_violation(spec, None, "utf8_encoded", 1, [{"line": 1, "error": str(err)}])]
    header = [h.strip().strip('"') for h in header]
    expected = list(spec.columns)
    missing = [c for c in expected if c not in header]
    extra = [c for c in header if c not in expected]
    found = [_violation(spec, c, "column_present", 1, [{"missing_column": c}]) for c in missing]
    found += [_violation(spec, c, "no_unexpected_column", 1, [{"extra_column": c}]) for c in extra]
    if not found and header != expected:
        pairs = enumerate(zip(expected, header, strict=True), start=1)
        moved = [{"position": i, "expected": e, "found": h} for i, (e, h) in pairs if e != h]
        found.append(_violation(spec, moved[0]["found"], "column_order", len(moved), moved))
    return found


def _reject_violations(con: duckdb.DuckDBPyConnection, spec: TableSpec, rejects: str) -> list:
    groups = con.execute(
        f"SELECT error_type, column_name, count(*) FROM {rejects} GROUP BY ALL ORDER BY 3 DESC"
    ).fetchall()
    found = []
    for error_type, column, count in groups:
        cases = con.execute(
            f"SELECT line, csv_line, error_message FROM {rejects} "
            "WHERE error_type = ? AND column_name IS NOT DISTINCT FROM ? ORDER BY line LIMIT ?",
            [error_type, column, MAX_CASES],
        ).fetchall()
        rule = _REJECT_RULES.get(str(error_type), str(error_type).lower().replace(" ", "_"))
        if rule == "parses_as_declared_type":
            rule = f"parses_as_{spec.dtypes.get(column, 'declared type')}"
        found.append(
            _violation(
                spec,
                column,
                rule,
                int(count),
                [
                    {"line": line, "text": text[:200], "error": msg[:300]}
                    for line, text, msg in cases
                ],
            )
        )
    return found


def stage_file(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, path: Path, ref: str
) -> StagedTable:
    """Load ``path`` into temporary table ``ref`` with a ``_row`` column (1-based data row).

    Temporary, so the month is written to the warehouse file once (at publish), not twice;
    DuckDB keeps insertion order, so published rows stay in file order without a sort.
    """
    report = TableReport(spec.name, str(path), sha256_file(path))
    report.evaluated.add(COLUMNS_AND_TYPES)
    staged = StagedTable(spec, ref, report)
    report.violations += _header_violations(spec, path)
    if report.violations:
        return staged
    rejects = f"rejects_{spec.asset_name}"
    types = ", ".join(f"'{c}': '{t}'" for c, t in spec.duckdb_types().items())
    con.execute(f"DROP TABLE IF EXISTS {rejects}; DROP TABLE IF EXISTS {rejects}_scan")
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {ref} AS SELECT row_number() OVER () AS _row, * FROM "
            f"read_csv('{path}', header = true, auto_detect = false, columns = {{{types}}}, "
            f"delim = ',', quote = '\"', escape = '\"', store_rejects = true, "
            f"rejects_table = '{rejects}', rejects_scan = '{rejects}_scan')"
        )
    except duckdb.Error as err:
        report.violations.append(_violation(spec, None, "readable_csv", 1, [{"error": str(err)}]))
        return staged
    report.violations += _reject_violations(con, spec, rejects)
    report.rows = con.execute(f"SELECT count(*) FROM {ref}").fetchone()[0]
    if spec.name == "application" and report.rows == 0 and not report.violations:
        report.violations.append(_violation(spec, None, "at_least_one_row", 1, [{"rows": 0}]))
    return staged
