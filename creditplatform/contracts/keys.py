"""Key contracts in SQL: unique primary keys and foreign keys within one month's staged tables.

Run on DuckDB rather than pandas because bureau_balance alone holds millions of rows a month.
"""

from __future__ import annotations

import duckdb

from creditplatform.contracts.report import FOREIGN_KEYS, MAX_CASES, PRIMARY_KEY, Violation
from creditplatform.homecredit import TableSpec


def _cols(columns: tuple[str, ...]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def primary_key_violations(
    con: duckdb.DuckDBPyConnection, ref: str, spec: TableSpec
) -> list[Violation]:
    if not spec.primary_key:
        return []
    key = _cols(spec.primary_key)
    base = (
        f"SELECT {key}, count(*) AS n, min(_row) AS first_row FROM {ref} GROUP BY ALL HAVING n > 1"
    )
    total = con.execute(f"SELECT count(*), coalesce(sum(n), 0) FROM ({base})").fetchone()
    if not total[0]:
        return []
    rows = con.execute(f"{base} ORDER BY first_row LIMIT {MAX_CASES}").fetchall()
    names = [*spec.primary_key, "occurrences", "first_row"]
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


def foreign_key_violations(
    con: duckdb.DuckDBPyConnection, ref: str, spec: TableSpec, parent_refs: dict[str, str]
) -> list[Violation]:
    found = []
    for fk in spec.foreign_keys:
        parent = parent_refs.get(fk.parent)
        if parent is None:
            continue
        cols = _cols(fk.columns)
        orphans = (
            f"SELECT _row, {cols} FROM {ref} c WHERE NOT EXISTS "
            f"(SELECT 1 FROM {parent} p WHERE "
            + " AND ".join(f'p."{c}" = c."{c}"' for c in fk.columns)
            + ")"
        )
        count = con.execute(f"SELECT count(*) FROM ({orphans})").fetchone()[0]
        if not count:
            continue
        rows = con.execute(f"{orphans} ORDER BY _row LIMIT {MAX_CASES}").fetchall()
        found.append(
            Violation(
                table=spec.name,
                check=FOREIGN_KEYS,
                column=", ".join(fk.columns),
                rule=f"references {fk.parent}({', '.join(fk.columns)})",
                failing_rows=int(count),
                cases=[dict(zip(["row", *fk.columns], r, strict=True)) for r in rows],
            )
        )
    return found
