"""Key contracts in SQL: unique primary keys and foreign keys within one month's staged tables.

Run on DuckDB rather than pandas because bureau_balance alone holds millions of rows a month.
"""

from __future__ import annotations

import duckdb

from creditplatform.contracts.report import FOREIGN_KEYS, MAX_CASES, PRIMARY_KEY, Violation
from creditplatform.homecredit import ForeignKey, TableSpec
from creditplatform.sql import ident, one_row, scalar


def _cols(columns: tuple[str, ...], alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + ident(c) for c in columns)


def _duplicate_keys(ref: str, spec: TableSpec) -> str:
    key = _cols(spec.primary_key)
    return (
        f"SELECT {key}, count(*) AS n, min(_row) AS first_row FROM {ref} GROUP BY ALL HAVING n > 1"
    )


def primary_key_violations(
    con: duckdb.DuckDBPyConnection, ref: str, spec: TableSpec
) -> list[Violation]:
    if not spec.primary_key:
        return []
    base = _duplicate_keys(ref, spec)
    total = one_row(con.execute(f"SELECT count(*), coalesce(sum(n), 0) FROM ({base})"))
    if not total[0]:
        return []
    rows = con.execute(f"{base} ORDER BY first_row LIMIT {MAX_CASES}").fetchall()
    names = [*spec.primary_key, "occurrences", "row"]
    return [
        Violation(
            table=spec.name,
            check=PRIMARY_KEY,
            column=", ".join(spec.primary_key),
            rule=f"unique({', '.join(spec.primary_key)})",
            failing_rows=int(total[1]),
            cases=[dict(zip(names, row, strict=True)) for row in rows],
        )
    ]


def _orphans(ref: str, parent: str, fk: ForeignKey) -> tuple[str, list[str]]:
    """SQL for the failing child rows of ``fk`` and the names of its columns.

    A single key fails when no parent row has it. A key pair fails when the parent row found by
    its first column exists (a missing one is the single key's failure, reported once) but
    disagrees on the others; the case then shows what the parent row says.
    """
    first, rest = fk.columns[0], fk.columns[1:]
    if not rest:
        sql = (
            f"SELECT c._row, c.{ident(first)} FROM {ref} c WHERE NOT EXISTS "
            f"(SELECT 1 FROM {parent} p WHERE p.{ident(first)} = c.{ident(first)})"
        )
        return sql, ["row", first]
    agree = " AND ".join(f"p.{ident(c)} IS NOT DISTINCT FROM c.{ident(c)}" for c in rest)
    sql = (
        f"SELECT c._row, {_cols(fk.columns, 'c')}, {_cols(rest, 'p')} FROM {ref} c "
        f"JOIN {parent} p ON p.{ident(first)} = c.{ident(first)} WHERE NOT ({agree})"
    )
    return sql, ["row", *fk.columns, *(f"{fk.parent}.{c}" for c in rest)]


def foreign_key_violations(
    con: duckdb.DuckDBPyConnection, ref: str, spec: TableSpec, parent_refs: dict[str, str]
) -> list[Violation]:
    found = []
    for fk in spec.foreign_keys:
        parent = parent_refs.get(fk.parent)
        if parent is None:
            continue
        orphans, names = _orphans(ref, parent, fk)
        count = scalar(con.execute(f"SELECT count(*) FROM ({orphans})"))
        if not count:
            continue
        rows = con.execute(f"{orphans} ORDER BY 1 LIMIT {MAX_CASES}").fetchall()
        rule = (
            f"references {fk.parent}({fk.columns[0]})"
            if len(fk.columns) == 1
            else f"({', '.join(fk.columns)}) matches {fk.parent}"
        )
        found.append(
            Violation(
                table=spec.name,
                check=FOREIGN_KEYS,
                column=", ".join(fk.columns),
                rule=rule,
                failing_rows=int(count),
                cases=[dict(zip(names, r, strict=True)) for r in rows],
            )
        )
    return found
