"""Quoting for SQL text we build: every identifier and literal goes through these two helpers.

Values are bound as parameters wherever DuckDB allows it (``read_csv(?)``, ``WHERE x = ?``);
``COPY ... TO`` and DDL take no parameters, so their paths and names are quoted here instead.
A data directory containing ``'`` or ``"`` must never change what a statement means.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Any

import duckdb


def ident(name: str) -> str:
    """A double-quoted identifier: ``a"b`` becomes ``"a""b"``."""
    return '"' + str(name).replace('"', '""') + '"'


def literal(value: object) -> str:
    """A SQL literal for a string, path, number, bool or None (floats keep nan/inf exact)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        return repr(value) if math.isfinite(value) else f"'{value}'::DOUBLE"
    if isinstance(value, str | Path):
        return "'" + str(value).replace("'", "''") + "'"
    raise TypeError(f"no SQL literal for {type(value).__name__}: {value!r}")


def one_row(cursor: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    """The row an aggregate query returns: it always returns exactly one, so none is a bug."""
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError("an aggregate query returned no row")
    return row


def scalar(cursor: duckdb.DuckDBPyConnection) -> Any:
    """The single value of a one-row, one-column aggregate (``count(*)``, ``max(x)``)."""
    return one_row(cursor)[0]
