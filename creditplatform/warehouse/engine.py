"""Where the warehouse lives and how a process opens it, for both profiles.

- local: one DuckDB file. One process may hold it for writing; the `warehouse` pool serialises
  Dagster steps and readers wait for the lock (``connect``'s ``wait_seconds``).
- production: a DuckLake lake: a PostgreSQL catalog plus Parquet files under ``lake_data_path``.
  Many processes (and machines) read and write at once with snapshot isolation; the same SQL
  runs on it, with ``lake`` as the current database.

DuckLake has no indexes or constraints and cannot take concurrent DDL, so correctness does not
rest on them on either profile: every table is created up front in one step serialised by a
PostgreSQL advisory lock (``prepare``), each writer replaces its month inside one transaction
(delete then insert, so a re-run never duplicates rows), and a commit that conflicts with a
concurrent one fails whole and changes nothing: the step's retry policy (ingest, features,
drift, scores) runs it again on the new snapshot.

The DuckDB extensions are loaded from the files the pinned ``duckdb-extension-*`` wheels
install, never downloaded: a lake must never see two DuckDB versions (pyproject pins them).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import duckdb

from creditplatform.sql import literal

LAKE = "lake"
# The lake's extensions, in load order (DuckLake's PostgreSQL catalog needs the scanner).
LAKE_EXTENSIONS = ("postgres_scanner", "ducklake")
# Tables created once per process and lake; later opens in the process skip the DDL.
_prepared: set[str] = set()
# Advisory locks this process holds (so a nested section does not wait on itself).
_held: set[str] = set()
T = TypeVar("T")


def extension_file(name: str) -> Path:
    """The ``.duckdb_extension`` file of the installed wheel for this DuckDB version."""
    module = importlib.import_module(f"duckdb_extension_{name}")
    path = Path(str(module.__file__)).parent / "extensions" / f"v{duckdb.__version__}"
    found = path / f"{name}.duckdb_extension"
    if not found.exists():
        raise RuntimeError(
            f"{found} is missing: duckdb-extension-{name.replace('_', '-')} must be the "
            f"release of duckdb {duckdb.__version__} (pyproject.toml pins both)"
        )
    return found


@dataclass(frozen=True)
class WarehouseLocation:
    """A DuckDB file (``lake_catalog`` empty) or a DuckLake lake (``lake_catalog`` set: the
    libpq string of its PostgreSQL catalog database)."""

    path: Path
    lake_catalog: str = ""
    lake_data_path: str = ""

    @property
    def is_lake(self) -> bool:
        return bool(self.lake_catalog)

    def exists(self) -> bool:
        """Whether there is anything to read yet (a lake's catalog is created on first open)."""
        return self.is_lake or self.path.exists()

    def connect(
        self, read_only: bool = False, wait_seconds: float = 0.0
    ) -> duckdb.DuckDBPyConnection:
        """An open connection; on the local file, retry while another process holds its lock
        for up to ``wait_seconds``, then raise ``duckdb.IOException``."""
        if self.is_lake:
            return self._connect_lake(read_only)
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        con = retry_while_locked(
            lambda: duckdb.connect(str(self.path), read_only=read_only), wait_seconds
        )
        return con if read_only else as_writer(con)

    def _connect_lake(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(":memory:")
        try:
            for name in LAKE_EXTENSIONS:
                con.execute(f"LOAD {literal(str(extension_file(name)))}")
            options = [f"DATA_PATH {literal(self.lake_data_path)}"]
            if read_only:
                options.append("READ_ONLY")
            attach = (
                f"ATTACH {literal('ducklake:postgres:' + self.lake_catalog)} AS {LAKE} "
                f"({', '.join(options)})"
            )
            key = f"{self.lake_catalog}|{self.lake_data_path}"
            if key in _prepared or read_only:
                con.execute(attach)
                con.execute(f"USE {LAKE}")
                return con
            if "://" not in self.lake_data_path:  # a local or mounted path, not object storage
                Path(self.lake_data_path).mkdir(parents=True, exist_ok=True)
            with self.exclusive("ddl"):  # the first ATTACH writes the catalog's own tables
                con.execute(attach)
                con.execute(f"USE {LAKE}")
                from creditplatform.warehouse.tables import prepare

                prepare(con)
            _prepared.add(key)
            return con
        except BaseException:
            con.close()
            raise

    def exclusive(self, name: str) -> AbstractContextManager[None]:
        """Serialise a critical section (DDL) across every process using this warehouse."""
        return advisory_lock(self.lake_catalog, name)


@contextmanager
def advisory_lock(conninfo: str, name: str) -> Iterator[None]:
    """Hold PostgreSQL advisory lock ``name`` in database ``conninfo`` (released when the
    process dies: the session ends); re-entrant within a process. With no ``conninfo`` (the
    local profile) it holds nothing: the `warehouse` pool and DuckDB's file lock serialise."""
    key = f"{conninfo}|{name}"
    if not conninfo or key in _held:
        yield
        return
    import psycopg2

    pg = psycopg2.connect(conninfo)
    try:
        with pg.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(hashtext(%s))", [f"creditplatform:{name}"])
        _held.add(key)
        yield
    finally:
        _held.discard(key)
        pg.close()  # ends the session, which releases the lock


def as_writer(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """``con`` set up for the warehouse's writers: no row-group vacuum at checkpoints.

    In the pinned DuckDB (1.5) an insert starts new row groups, and a checkpoint (each commit
    past the WAL threshold) then merges the table's trailing partial row groups: it rewrites
    and recompresses old months' rows, more as the tables grow (``benchmarks.ingest_speed
    --months-before 6``, with ``--code`` on the commit before this, times both).
    Without it a table keeps one partial row group per month. A re-delivered month leaves no
    dead rows: its old rows filled row groups of their own, which the delete empties and the
    checkpoint drops (tested). A setting of the database instance, so
    every connection of this process shares it (a connection's config would refuse others).
    """
    con.execute("SET max_vacuum_tasks = 0")
    return con


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """The body's statements commit together or not at all (on DuckLake, one snapshot)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def retry_while_locked(open_: Callable[[], T], wait_seconds: float) -> T:
    """``open_()``, retried with backoff while DuckDB reports the file locked."""
    deadline, delay = time.monotonic() + wait_seconds, 0.1
    while True:
        try:
            return open_()
        except duckdb.IOException:
            if time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
