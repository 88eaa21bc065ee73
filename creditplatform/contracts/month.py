"""Run every contract of one month's staged tables: pandera value rules, keys, foreign keys and
row counts."""

from __future__ import annotations

import duckdb

from creditplatform.contracts.keys import foreign_key_violations, primary_key_violations
from creditplatform.contracts.report import (
    FOREIGN_KEYS,
    PRIMARY_KEY,
    ROW_COUNT,
    VALUE_RULES,
    StagedTable,
)
from creditplatform.contracts.row_counts import row_count_violations
from creditplatform.contracts.schemas import schema_for
from creditplatform.contracts.values_sql import value_rule_violations


def validate_month(
    con: duckdb.DuckDBPyConnection,
    staged: dict[str, StagedTable],
    history: dict[str, list[tuple[int, int]]],
) -> None:
    """Add value-rule, key, FK and row-count violations to each parsed table's report, in place.

    Tables that did not parse are skipped (their parse violations already fail the month), and
    a child whose parent did not parse has its foreign keys left unevaluated. ``history`` holds,
    per table, (rows, applications) of recent published months.
    """
    parsed = {name: t.ref for name, t in staged.items() if t.report.passed}
    applications = staged["application"].report.rows
    for name, table in staged.items():
        if name not in parsed:
            continue
        ref, spec, report = table.ref, table.spec, table.report
        report.violations += row_count_violations(
            name, report.rows, applications, history.get(name, [])
        )
        report.evaluated.add(ROW_COUNT)
        report.violations += value_rule_violations(con, ref, schema_for(name))
        report.evaluated.add(VALUE_RULES)
        if spec.primary_key:
            report.violations += primary_key_violations(con, ref, spec)
            report.evaluated.add(PRIMARY_KEY)
        if spec.foreign_keys and all(fk.parent in parsed for fk in spec.foreign_keys):
            report.violations += foreign_key_violations(con, ref, spec, parsed)
            report.evaluated.add(FOREIGN_KEYS)
