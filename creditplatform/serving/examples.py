"""Scoring requests built from a landing month: each applicant's rows of every table as JSON.

Used by ``creditplatform example-request``, the zero-skew tests and the serving benchmark: the
online API then sees exactly the rows the batch pipeline ingested for the same applicants.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import duckdb

from creditplatform.homecredit import TABLE_NAMES, TABLES
from creditplatform.serving.applicants import APPLICATION


def _plain(value: object) -> object:
    return None if isinstance(value, float) and math.isnan(value) else value


def _read(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> list[dict]:
    spec = TABLES[table]
    cursor = con.execute(
        "SELECT * FROM read_csv(?, header = true, columns = ?)",
        [str(path), spec.duckdb_types()],
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, map(_plain, row), strict=True)) for row in cursor.fetchall()]


def landing_requests(month_dir: Path, limit: int | None = None) -> list[dict]:
    """One request per application of ``month_dir`` (a landing folder), in file order."""
    with duckdb.connect() as con:
        tables = {t: _read(con, month_dir / TABLES[t].file_name, t) for t in TABLE_NAMES}
    applications = tables[APPLICATION][:limit]
    owner_of_bureau = {row["SK_ID_BUREAU"]: row["SK_ID_CURR"] for row in tables["bureau"]}
    children: dict[str, dict[int, list[dict]]] = {}
    for table in TABLE_NAMES[1:]:
        grouped: dict[int, list[dict]] = defaultdict(list)
        for row in tables[table]:
            key = (
                owner_of_bureau.get(row["SK_ID_BUREAU"])
                if table == "bureau_balance"
                else (row["SK_ID_CURR"])
            )
            if key is not None:  # a bureau_balance row of no bureau row belongs to nobody
                grouped[key].append(row)
        children[table] = grouped
    return [
        {APPLICATION: app, **{t: children[t].get(app["SK_ID_CURR"], []) for t in TABLE_NAMES[1:]}}
        for app in applications
    ]
