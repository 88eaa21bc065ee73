"""DuckLake housekeeping: each insert writes its own Parquet file and each commit a snapshot,
so a lake written month by month gathers small files and history. Merging adjacent files and
expiring old snapshots (then deleting the files only they named) keeps reads fast and storage
bounded; snapshots younger than the retention stay for time travel and audits."""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb

from creditplatform.sql import literal, scalar
from creditplatform.warehouse.engine import LAKE


@dataclass(frozen=True)
class LakeMaintenance:
    merged_tables: int
    expired_snapshots: int
    deleted_files: int
    data_files_before: int
    data_files_after: int
    seconds: float


def _data_files(con: duckdb.DuckDBPyConnection) -> int:
    return int(
        scalar(
            con.execute(
                f"SELECT count(*) FROM __ducklake_metadata_{LAKE}.ducklake_data_file "
                "WHERE end_snapshot IS NULL"
            )
        )
    )


def maintain_lake(con: duckdb.DuckDBPyConnection, retention_days: float) -> LakeMaintenance:
    """Merge small files, expire snapshots older than ``retention_days``, delete their files."""
    started = time.perf_counter()
    before = _data_files(con)
    lake = literal(LAKE)
    older = f"older_than => now() - INTERVAL {literal(f'{retention_days * 86400:.0f} seconds')}"
    merged = con.execute(f"CALL ducklake_merge_adjacent_files({lake})").fetchall()
    expired = con.execute(f"CALL ducklake_expire_snapshots({lake}, {older})").fetchall()
    deleted = con.execute(f"CALL ducklake_cleanup_old_files({lake}, {older})").fetchall()
    return LakeMaintenance(
        merged_tables=len(merged),
        expired_snapshots=len(expired),
        deleted_files=len(deleted),
        data_files_before=before,
        data_files_after=_data_files(con),
        seconds=time.perf_counter() - started,
    )
