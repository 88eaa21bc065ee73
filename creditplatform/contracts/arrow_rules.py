"""The landing contracts' accept path on Arrow tables: "does every row pass?" without SQL.

The scoring service checks each request by the same contracts as a landed month. Planning the
SQL of every value rule and key of seven tables took 36-50 ms a request, far more than the
check itself. Here the same pandera schemas are compiled once into a ``TablePlan`` per table:
the same rule kinds, statistics and semantics as ``values_sql`` (nulls pass value checks and
fail ``not_nullable``; NaN fails every comparison), run as a few NumPy operations over a matrix
of the table's numeric columns (one comparison for every lower bound at once, one for every
upper bound, ...; one Arrow compute call per rule cost ~15 ms for the 120-column application
row alone). Keys are checked by sorting (unique primary keys) and ``searchsorted`` (foreign keys
and key pairs), as ``keys`` checks them in SQL.

This path only answers *yes*: on any failure the caller runs the SQL explainers, which name
table, row, column, rule and value exactly as before. A schema with a rule kind this module
does not know has no plan (``compile_table`` returns None) and is always checked in SQL, so a
new rule is never silently skipped. ``test_arrow_rules.py`` holds the two engines equal at
every rule's bounds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pandera.pandas as pa
import pyarrow as arrow
import pyarrow.compute as pc

from creditplatform.contracts.schemas import schema_for
from creditplatform.homecredit import TABLES, ForeignKey, TableSpec


@dataclass
class _Bounds:
    """One kind of comparison over several columns of the numeric matrix at once."""

    columns: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    inclusive: list[bool] = field(default_factory=list)

    def add(self, column: int, value: float, inclusive: bool) -> None:
        self.columns.append(column)
        self.values.append(value)
        self.inclusive.append(inclusive)


@dataclass
class TablePlan:
    """A table's value rules as NumPy operations over a matrix of its numeric columns.

    Semantics are ``values_sql``'s: a null passes every value rule and fails ``not_nullable``;
    NaN (a value) fails every comparison. Integers are compared as float64, which keeps their
    order and their equality with the rules' small bounds.
    """

    numeric: list[str] = field(default_factory=list)
    not_null: list[str] = field(default_factory=list)
    lower: _Bounds = field(default_factory=_Bounds)
    upper: _Bounds = field(default_factory=_Bounds)
    finite: list[int] = field(default_factory=list)
    sentinel: _Bounds = field(default_factory=_Bounds)
    # Numeric columns by their allowed values (isin); text columns one by one.
    levels: dict[tuple[Any, ...], list[int]] = field(default_factory=dict)
    allowed: list[tuple[str, list[Any]]] = field(default_factory=list)

    def index(self, column: str) -> int:
        if column not in self.numeric:
            self.numeric.append(column)
        return self.numeric.index(column)

    def passes(self, table: arrow.Table) -> bool:
        if any(table[c].null_count for c in self.not_null):
            return False
        for column, allowed in self.allowed:
            values = table[column]
            found = pc.is_in(values, value_set=arrow.array(allowed).cast(values.type))
            if not _all(pc.if_else(pc.is_valid(values), found, True)):
                return False
        if not self.numeric or not table.num_rows:
            return True
        matrix = np.column_stack(
            [table[c].to_numpy(zero_copy_only=False).astype(np.float64) for c in self.numeric]
        )
        nulls = np.zeros(matrix.shape, dtype=bool)
        for j, column in enumerate(self.numeric):
            if table[column].null_count:
                nulls[:, j] = table[column].is_null().to_numpy(zero_copy_only=False)
        return all(bool(np.all(ok | nulls[:, columns])) for columns, ok in self._results(matrix))

    def _results(self, matrix: np.ndarray) -> Iterator[tuple[list[int], np.ndarray]]:
        with np.errstate(invalid="ignore"):
            for bounds, strict, loose in (
                (self.lower, np.greater, np.greater_equal),
                (self.upper, np.less, np.less_equal),
            ):
                if bounds.columns:
                    values = matrix[:, bounds.columns]
                    limit = np.array(bounds.values, dtype=np.float64)
                    yield (
                        bounds.columns,
                        np.where(bounds.inclusive, loose(values, limit), strict(values, limit)),
                    )
            if self.finite:
                yield self.finite, np.isfinite(matrix[:, self.finite])
            for allowed, columns in self.levels.items():
                yield columns, np.isin(matrix[:, columns], np.array(allowed, dtype=np.float64))
            if self.sentinel.columns:
                values = matrix[:, self.sentinel.columns]
                yield (
                    self.sentinel.columns,
                    (values <= 0) | (values == np.array(self.sentinel.values, dtype=np.float64)),
                )


def _add(plan: TablePlan, column: str, dtype: str, check: pa.Check) -> bool:
    """Add ``check`` on ``column`` to ``plan`` (the kinds ``values_sql`` compiles); False
    when its kind has no form here."""
    kind = getattr(getattr(check, "_check_fn", None), "__name__", "")
    stats = check.statistics or {}
    if kind in ("greater_than_or_equal_to", "greater_than"):
        plan.lower.add(plan.index(column), stats["min_value"], kind.endswith("_to"))
    elif kind in ("less_than_or_equal_to", "less_than"):
        plan.upper.add(plan.index(column), stats["max_value"], kind.endswith("_to"))
    elif kind == "in_range":
        j = plan.index(column)
        plan.lower.add(j, stats["min_value"], stats.get("include_min", True))
        plan.upper.add(j, stats["max_value"], stats.get("include_max", True))
    elif kind == "is_finite":
        plan.finite.append(plan.index(column))
    elif kind == "days_le_0_or_sentinel":
        plan.sentinel.add(plan.index(column), stats["sentinel"], True)
    elif kind == "isin" and dtype != "str":
        allowed = tuple(sorted(stats["allowed_values"]))
        plan.levels.setdefault(allowed, []).append(plan.index(column))
    elif kind == "isin":
        plan.allowed.append((column, list(stats["allowed_values"])))
    else:
        return False
    return True


@cache
def compile_table(table: str) -> TablePlan | None:
    """``table``'s value rules as a plan; None when a rule has no form here (then only SQL
    can decide)."""
    plan, dtypes = TablePlan(), TABLES[table].dtypes
    for name, column in schema_for(table).columns.items():
        if not column.nullable:
            plan.not_null.append(name)
        for check in column.checks:
            if not check.ignore_na or not _add(plan, name, dtypes[name], check):
                return None
    return plan


def _all(values: arrow.ChunkedArray | arrow.Array, skip_nulls: bool = False) -> bool:
    """True when every value is true (an empty column: true; a null: false)."""
    return bool(pc.all(values, skip_nulls=skip_nulls, min_count=0).as_py())


def _keys(rows: arrow.Table, columns: tuple[str, ...]) -> list[np.ndarray]:
    return [rows[c].to_numpy(zero_copy_only=False) for c in columns]


def _unique(rows: arrow.Table, spec: TableSpec) -> bool:
    """No two rows share the primary key (NumPy: a sort, then neighbours compared)."""
    if not spec.primary_key or rows.num_rows < 2:
        return True
    keys = _keys(rows, spec.primary_key)
    order = np.lexsort(keys[::-1])
    same = np.ones(rows.num_rows - 1, dtype=bool)
    for key in keys:
        ordered = key[order]
        same &= ordered[1:] == ordered[:-1]
    return not same.any()


def _referenced(rows: arrow.Table, parent: arrow.Table, fk: ForeignKey) -> bool:
    """Every row's first key column names a parent row, and the parent row found agrees on
    the others. Key columns are integers and never null here (the value rules, checked first,
    refuse a null one), and the parent's key is unique (its primary key was checked first)."""
    mine, theirs = _keys(rows, fk.columns), _keys(parent, fk.columns)
    order = np.argsort(theirs[0], kind="stable")
    known = theirs[0][order]
    at = np.searchsorted(known, mine[0]).clip(0, max(len(known) - 1, 0))
    if len(mine[0]) and (not len(known) or not np.array_equal(known[at], mine[0])):
        return False
    return all(np.array_equal(other[order][at], column) for column, other in
               zip(mine[1:], theirs[1:], strict=True))  # fmt: skip


def keys_hold(tables: dict[str, arrow.Table]) -> bool:
    """Every primary key unique and every foreign key resolved among ``tables`` (by name)."""
    for name, rows in tables.items():
        spec = TABLES[name]
        if not _unique(rows, spec):
            return False
        for fk in spec.foreign_keys:
            if fk.parent in tables and not _referenced(rows, tables[fk.parent], fk):
                return False
    return True


def accepted(tables: dict[str, arrow.Table]) -> bool:
    """True only when every table passes every value rule and every key holds; False means
    "ask SQL" (a rule failed, or one has no Arrow form)."""
    for name, rows in tables.items():
        plan = compile_table(name)
        if plan is None or not plan.passes(rows):
            return False
    return keys_hold(tables)
