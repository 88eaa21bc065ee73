"""Build one month of the feature store from the ``raw`` schema, check it, publish atomically.

The SQL files beside this module each produce one row per applicant from one source table;
they are joined on SK_ID_CURR to the application row. Every feature is a function of a single
applicant's rows, so nothing is learnt across applicants and no split can leak through here.

Every float ``sum`` and ``mean`` in the files adds ``CAST(x AS DECIMAL(38, 10))``: a float sum
depends on the order the rows reach it (the join plan, the threads, the other applicants in a
scoring pass), while a decimal sum is integer arithmetic and gives the same bits in any order.
So an applicant's features are the same bits in a month of 25k as alone in the scoring
service. ``sum(x ORDER BY x)`` is exact too but slower: on a 25,626-application month the
query takes 0.38 s with plain float sums (whose bits then differ between 1 and 2 threads), 0.62
s with decimals, 1.81 s ordered (``python -m benchmarks.feature_forms``, results in
``benchmarks/results/feature_forms.md``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

import duckdb

from creditplatform.contracts.values_sql import value_rule_violations
from creditplatform.features.catalog import (
    FEATURE_SCHEMA_VERSION,
    NUMERIC_FEATURES,
    STORE_COLUMNS,
    ZERO_WHEN_ABSENT,
)
from creditplatform.features.contract import feature_schema
from creditplatform.homecredit import TABLES
from creditplatform.sql import ident, literal, one_row, scalar
from creditplatform.warehouse.engine import transaction

SQL_FILES = (
    "application", "bureau", "previous_application", "pos_cash", "installments", "credit_card",
)  # fmt: skip
STORE = "features.feature_store"
# A store built under an older FEATURE_SCHEMA_VERSION is kept, renamed to this prefix plus its
# version (``features.feature_store_v1``), until its months are re-materialised.
ARCHIVE_PREFIX = "features.feature_store_v"


# Opens the warehouse for a block (``Warehouse.get_connection`` in Dagster, ``duckdb.connect``
# elsewhere): the pure steps hold it only while they read or write rows.
Connect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]


class NoFeatures(Exception):
    """A month has no rows in the feature store (a retry would change nothing)."""


class FeatureSqlError(Exception):
    """The feature SQL failed on a month: which month, which file, and the engine's cause."""


def read_sql(name: str) -> str:
    return resources.files("creditplatform.features").joinpath(f"{name}.sql").read_text("utf-8")


def _store_columns(value: Callable[[str], str]) -> str:
    """The store's select list, each column from ``value(name)``: a feature absent for an
    applicant (no child rows) is 0 where a count means "none" (``ZERO_WHEN_ABSENT``), and every
    numeric feature is DOUBLE, whatever its source type: a reader (the registered model's
    MLflow signature, a pandas frame) then sees float64 with NaN for missing, the same in every
    month, instead of int64 in a month without nulls and float64 in one with them."""
    found = []
    for c in STORE_COLUMNS:
        expr = value(c)
        expr = f"coalesce({expr}, 0)" if c in ZERO_WHEN_ABSENT else expr
        expr = f"CAST({expr} AS DOUBLE)" if c in NUMERIC_FEATURES else expr
        found.append(f"{expr} AS {c}")
    return ", ".join(found)


def feature_query() -> str:
    """One SELECT over ``raw`` for the month bound to ``$month``: the SQL files' rows joined on
    SK_ID_CURR to the application row (the batch path: a month of the store)."""
    parts = [f"({read_sql(name)}) AS {name}" for name in SQL_FILES]
    joins = parts[0] + "".join(f"\nLEFT JOIN {p} USING (SK_ID_CURR)" for p in parts[1:])
    return f"SELECT {_store_columns(lambda c: c)} FROM {joins}"


def online_feature_query(month: str) -> str:
    """The same features as ``feature_query`` for ``month``, combined for a few applicants.

    The SQL files are the same; only how their rows meet differs: stacked (``UNION ALL BY
    NAME``) and grouped by applicant instead of five hash joins. Each feature comes from one
    file and each file gives an applicant at most one row, so ``any_value`` picks that row's
    value (NaN included) or NULL, as the LEFT JOIN does; applicants without an application row
    are dropped, as the join drops them. Why two forms: on one applicant DuckDB's fixed cost
    per hash join is most of the pass (prepared over the service's Arrow slots: 21.4 ms
    stacked vs 24.6 ms joined, ``benchmarks.feature_forms``), while on a whole month the joins
    are faster. The serving tests hold the two equal bit for bit on every applicant of a
    month.
    """
    parts = [
        f"SELECT *, {'true' if name == SQL_FILES[0] else 'false'} AS _has_application "
        f"FROM ({read_sql(name)})"
        for name in SQL_FILES
    ]
    # The month is written into the statement, not bound: a prepared statement with a
    # parameter is bound again at every execution.
    stacked = "\nUNION ALL BY NAME\n".join(parts).replace("$month", literal(month))
    columns = _store_columns(lambda c: c if c == "SK_ID_CURR" else f"any_value({c})")
    return f"SELECT {columns} FROM ({stacked}) GROUP BY SK_ID_CURR HAVING bool_or(_has_application)"


def columns_read() -> dict[str, list[str]]:
    """Per landing table, the columns the feature SQL names (in the table's order).

    A superset by construction (every identifier in the SQL that is a column of the table), so
    a reader that supplies only these (the scoring service, which skips converting the rest)
    gives the query everything it reads; a column it missed would fail the query's binding.
    """
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", feature_query()))
    return {name: [c for c in spec.columns if c in words] for name, spec in TABLES.items()}


@dataclass
class FeatureCheck:
    name: str
    passed: bool
    description: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class FeatureBuild:
    month: str
    rows: int
    checks: list[FeatureCheck]
    null_rates: dict[str, float]
    published: bool = False

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def check_features(
    con: duckdb.DuckDBPyConnection, ref: str, month: str
) -> tuple[list[FeatureCheck], dict[str, float]]:
    """The feature store's structural contract: columns, one row per application, finite.

    Null rates are measured for the metadata; whether they moved is ``quality``'s question,
    asked against the champion's training rows, because a sparse feature is not an error.
    """
    columns = [r[0] for r in con.execute(f"DESCRIBE {ref}").fetchall()]
    expected = list(STORE_COLUMNS)
    missing = [c for c in expected if c not in columns]
    extra = [c for c in columns if c not in expected]
    checks = [
        FeatureCheck(
            "expected_columns",
            not missing and not extra,
            f"{len(columns)} columns; missing {missing or 'none'}, unexpected {extra or 'none'}",
            {"missing": missing, "unexpected": extra},
        )
    ]
    rows, distinct = one_row(con.execute(f"SELECT count(*), count(DISTINCT SK_ID_CURR) FROM {ref}"))
    applications = scalar(
        con.execute("SELECT count(*) FROM raw.application WHERE month = ?", [month])
    )
    checks.append(
        FeatureCheck(
            "one_row_per_application",
            rows == distinct == applications,
            f"{rows} rows, {distinct} distinct SK_ID_CURR, {applications} applications",
            {"rows": rows, "distinct_ids": distinct, "applications": applications},
        )
    )
    numeric = [c for c in NUMERIC_FEATURES if c in columns]
    infinite = one_row(
        con.execute(
            "SELECT "
            + ", ".join(f"count(*) FILTER (WHERE isinf({c}))" for c in numeric)
            + f" FROM {ref}"
        )
    )
    bad = {c: int(n) for c, n in zip(numeric, infinite, strict=True) if n}
    checks.append(
        FeatureCheck("no_infinite_values", not bad, f"infinite values: {bad or 'none'}", bad)
    )
    nulls = one_row(
        con.execute(
            "SELECT "
            + ", ".join(f"avg(CAST({c} IS NULL AS DOUBLE))" for c in numeric)
            + f" FROM {ref}"
        )
    )
    rates = {c: round(float(r or 0.0), 4) for c, r in zip(numeric, nulls, strict=True)}
    if not missing:
        checks.append(value_rules(con, ref, month))
    return checks, rates


def value_rules(con: duckdb.DuckDBPyConnection, ref: str, month: str) -> FeatureCheck:
    """The pandera contract (``features/contract.py``) on the staged month, in SQL: each broken
    rule names the feature, the rule, the month and the first applicants (SK_ID_CURR) that
    break it."""
    rows = ident(f"feature_rows_{month}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW {rows} AS SELECT SK_ID_CURR AS _row, * FROM {ref}")
    try:
        found = [
            replace(v, table=f"feature_store {month}",
                    cases=[{"SK_ID_CURR": c["row"], "value": c["value"]} for c in v.cases])
            for v in value_rule_violations(con, rows, feature_schema())
        ]  # fmt: skip
    finally:
        con.execute(f"DROP VIEW {rows}")
    return FeatureCheck(
        "value_rules",
        not found,
        "\n".join(v.message for v in found) or "every feature within its pandera rules",
        {"violations": [v.as_metadata() for v in found]},
    )


def _stage(con: duckdb.DuckDBPyConnection, staged: str, month: str) -> None:
    """The month's features into ``staged``; an engine error comes back naming the month, the
    SQL file that raises it alone (or the join, if none does) and the cause."""
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {staged} AS {feature_query()}", {"month": month})
    except duckdb.Error as joined:
        where, cause = "the join of the feature files", joined
        for name in SQL_FILES:
            try:
                # Fetched, not counted: a count would let DuckDB skip the failing column.
                con.execute(read_sql(name), {"month": month}).fetchall()
            except duckdb.Error as alone:
                where, cause = f"features/{name}.sql", alone
                break
        first_line = str(cause).splitlines()[0]
        raise FeatureSqlError(f"feature_store {month}: {where} failed: {first_line}") from joined


def _ensure_store(con: duckdb.DuckDBPyConnection, staged: str) -> None:
    """Create the store from the staged month's shape.

    When the schema version moved, the old store is renamed ``feature_store_v<old>`` rather
    than dropped: its months stay readable (a notebook, a comparison of old and new features)
    while Dagster shows them stale (the asset's code version is the schema version) until each
    is re-materialised into the new store. A rebuild is a metadata change, not a data loss.
    """
    con.execute("CREATE SCHEMA IF NOT EXISTS features")
    exists = scalar(
        con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'features' AND table_name = 'feature_store'"
        )
    )
    if exists:
        versions = con.execute(f"SELECT DISTINCT feature_schema_version FROM {STORE}").fetchall()
        if all(v[0] == FEATURE_SCHEMA_VERSION for v in versions):
            return
        old = max(v[0] for v in versions)
        archive = f"{ARCHIVE_PREFIX}{old}"
        con.execute(f"DROP TABLE IF EXISTS {archive}")  # a store abandoned twice: keep the latest
        con.execute(f"ALTER TABLE {STORE} RENAME TO {archive.split('.')[1]}")
    con.execute(
        f"CREATE TABLE {STORE} AS SELECT CAST(NULL AS VARCHAR) AS month, "
        f"CAST(NULL AS INTEGER) AS feature_schema_version, * FROM {staged} LIMIT 0"
    )


def ensure_store(con: duckdb.DuckDBPyConnection) -> None:
    """The store (after any schema-bump archive), shaped by the feature query on no month."""
    staged = ident("staging_features_shape")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {staged} AS {feature_query()}", {"month": ""})
    _ensure_store(con, staged)
    con.execute(f"DROP TABLE {staged}")


def build_month(con: duckdb.DuckDBPyConnection, month: str) -> FeatureBuild:
    """Compute, check and (only if every check passes) publish one month of features."""
    staged = ident(f"staging_features_{month}")
    # Temporary: the month is written to the warehouse file once, when it is published.
    _stage(con, staged, month)
    checks, rates = check_features(con, staged, month)
    build = FeatureBuild(
        month, scalar(con.execute(f"SELECT count(*) FROM {staged}")), checks, rates
    )
    if build.passed:
        _ensure_store(con, staged)
        with transaction(con):
            con.execute(f"DELETE FROM {STORE} WHERE month = ?", [month])
            con.execute(
                f"INSERT INTO {STORE} SELECT ?, ?, * FROM {staged} ORDER BY SK_ID_CURR",
                [month, FEATURE_SCHEMA_VERSION],
            )
        build.published = True
    con.execute(f"DROP TABLE {staged}")
    return build
