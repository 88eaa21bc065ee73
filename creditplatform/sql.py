"""Quoting for SQL text we build: every identifier and literal goes through these two helpers.

Values are bound as parameters wherever DuckDB allows it (``read_csv(?)``, ``WHERE x = ?``);
``COPY ... TO`` and DDL take no parameters, so their paths and names are quoted here instead.
A data directory containing ``'`` or ``"`` must never change what a statement means.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path


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
