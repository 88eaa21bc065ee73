"""The contracts' Arrow accept path says "every row passes" exactly when the SQL contracts do.

For every rule of every table, one landed row is changed to values at and around the rule's
bounds (and null, NaN, ±inf, other levels); both engines judge the table, and must agree. The
keys likewise: a duplicate primary key, an orphan, a pair that disagrees with its parent.
"""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from creditplatform.contracts.arrow_rules import accepted, compile_table, keys_hold
from creditplatform.contracts.keys import foreign_key_violations, primary_key_violations
from creditplatform.contracts.schemas import schema_for
from creditplatform.contracts.values_sql import value_rule_violations
from creditplatform.homecredit import TABLE_NAMES, TABLES
from creditplatform.serving.applicants import staged_tables
from creditplatform.serving.examples import landing_requests
from creditplatform.synthetic.generate import GenerateOptions, generate_history


@pytest.fixture(scope="module")
def good_tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pa.Table]:
    """Three landed applicants with rows in every table, as the service stages them."""
    out = tmp_path_factory.mktemp("arrow_rules")
    generate_history(out, GenerateOptions(months=1, applications_per_month=60, seed=2))
    month = next(p for p in sorted((out / "landing").iterdir()) if p.is_dir())
    requests = landing_requests(Path(month))
    full = [r for r in requests if all(r[t] for t in TABLE_NAMES[1:])][:3]
    assert len(full) == 3
    return staged_tables(full, batch=True)


def sql_accepts(tables: dict[str, pa.Table]) -> bool:
    refs = {t: f"t_{t}" for t in TABLE_NAMES}
    with duckdb.connect() as con:
        for table, rows in tables.items():
            con.register("staged", rows)
            con.execute(f"CREATE TABLE {refs[table]} AS SELECT * FROM staged")
            con.unregister("staged")
        for table in TABLE_NAMES:
            spec, ref = TABLES[table], refs[table]
            if (value_rule_violations(con, ref, schema_for(table))
                    or primary_key_violations(con, ref, spec)
                    or foreign_key_violations(con, ref, spec, refs)):  # fmt: skip
                return False
    return True


def probes(table: str, column: str) -> list[object]:
    """Values around every bound of the column's rules, plus null and the odd ones."""
    dtype = TABLES[table].dtypes[column]
    found: list[object] = [None]
    for check in schema_for(table).columns[column].checks:
        stats = check.statistics or {}
        for key in ("min_value", "max_value", "sentinel"):
            if key in stats:
                v = stats[key]
                found += [v, v - 1, v + 1] if dtype == "int64" else [
                    float(v), math.nextafter(float(v), -math.inf),
                    math.nextafter(float(v), math.inf),
                ]  # fmt: skip
        for level in stats.get("allowed_values", []):
            found.append(level)
        if "allowed_values" in stats:
            found.append("other" if dtype == "str" else 7)
    if dtype == "float64":
        found += [math.nan, math.inf, -math.inf, 1e300]
    return found


def with_value(tables: dict, table: str, column: str, value: object) -> dict:
    rows = tables[table]
    values = rows[column].to_pylist()
    values[0] = value
    changed = rows.set_column(
        rows.schema.get_field_index(column), column, pa.array(values, rows[column].type)
    )
    return {**tables, table: changed}


CASES = [
    (table, column)
    for table in TABLE_NAMES
    for column, spec in schema_for(table).columns.items()
    if spec.checks or not spec.nullable
]


def test_good_rows_pass_both(good_tables: dict):
    """The landed rows the cases below change, one table and column at a time."""
    assert accepted(good_tables) and sql_accepts(good_tables)


@pytest.mark.parametrize(("table", "column"), CASES, ids=[f"{t}.{c}" for t, c in CASES])
def test_arrow_and_sql_agree_on_every_rule(good_tables: dict, table: str, column: str):
    """The changed table's value rules, judged by both engines for every probe value."""
    plan = compile_table(table)
    with duckdb.connect() as con:
        for value in probes(table, column):
            rows = with_value(good_tables, table, column, value)[table]
            con.register("probe", rows)
            sql_passes = not value_rule_violations(con, "probe", schema_for(table))
            con.unregister("probe")
            assert plan.passes(rows) == sql_passes, (table, column, value)


def test_keys_agree(good_tables: dict):
    duplicate = pa.concat_tables([good_tables["bureau"], good_tables["bureau"].slice(0, 1)])
    orphan = with_value(good_tables, "installments_payments", "SK_ID_PREV", 1)
    pair = with_value(good_tables, "POS_CASH_balance", "SK_ID_CURR",
                      good_tables["application"]["SK_ID_CURR"][1].as_py())  # fmt: skip
    for tables in ({**good_tables, "bureau": duplicate}, orphan, pair):
        assert not keys_hold(tables)
        assert not sql_accepts(tables)


def test_every_rule_has_an_arrow_form():
    """No table falls back to SQL for its accept path (a rule kind this module lacks would)."""
    assert all(compile_table(t) is not None for t in TABLE_NAMES)
