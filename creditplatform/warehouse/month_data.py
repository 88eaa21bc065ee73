"""The tables and report folders that hold a month's derived data, so a re-delivered month can
take all of it away with its old raw rows.

A month re-delivered with fewer applicants must not leave the removed applicants' features,
scores (a challenger's shadow scores too) or drift numbers behind: the publish transaction that
replaces the raw month deletes the month from each of these tables, and the month's drift page
goes with it. What follows the ingest (the feature store in the same run, scores and drift by
automation) rebuilds them from the new raw rows, so every downstream table equals a fresh
ingest of the new files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from creditplatform.features.store import ARCHIVE_PREFIX, STORE
from creditplatform.sql import scalar

SCORES = "scores.batch_scores"
SHADOW_SCORES = "scores.shadow_scores"  # a challenger's PDs beside the champion's (rollout)
DRIFT_TABLE = "monitoring.drift"
DOWNSTREAM_TABLES = (STORE, SCORES, SHADOW_SCORES, DRIFT_TABLE)


def forget_downstream(con: duckdb.DuckDBPyConnection, month: str, present: set[str]) -> int:
    """Delete ``month`` from every downstream table in ``present`` (an archived feature store of
    an older schema version included); return rows deleted.

    Runs inside the caller's transaction, so raw and its derived rows change together.
    """
    deleted = 0
    archives = sorted(t for t in present if t.startswith(ARCHIVE_PREFIX))
    for table in (*DOWNSTREAM_TABLES, *archives):
        if table in present:
            deleted += scalar(con.execute(f"DELETE FROM {table} WHERE month = ?", [month]))
    return deleted


def forget_reports(reports_dir: Path, month: str) -> bool:
    """Remove the month's drift page and JSON (they describe data that no longer exists)."""
    folder = reports_dir / "drift" / month
    existed = folder.exists()
    shutil.rmtree(folder, ignore_errors=True)
    return existed
