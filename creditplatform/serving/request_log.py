"""Scored requests appended to ``<data dir>/serving/requests.duckdb`` for monitoring.

Each row is the applicant's feature-store row (the same columns as ``features.feature_store``)
plus the request id, time, model version, PD and decision (and, while a challenger shadows the
champion, its ``shadow_pd`` and ``shadow_version``), so online traffic can be read like a
month of the store. Rows are queued by the request as they are and assembled and written by one
background thread in batches (at most every ``flush_seconds``): a request never waits for the
file. The file is opened per batch and closed again, so another process (a notebook, a second
service) can read it in between; while someone else holds it, rows wait in memory (up to
``max_pending``, then the oldest are dropped and counted). A ``kill -9`` loses at most the rows
not yet flushed.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

import duckdb
import pandas as pd

TABLE = "scored_requests"


class RequestLog:
    def __init__(self, path: Path, flush_seconds: float = 1.0, max_pending: int = 100_000) -> None:
        self.path = path
        self.flush_seconds = flush_seconds
        self.max_pending = max_pending
        self.dropped = 0
        self.failed_flushes = 0
        self._queue: queue.SimpleQueue[tuple[pd.DataFrame, dict]] = queue.SimpleQueue()
        self._pending: list[pd.DataFrame] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
        self._log = logging.getLogger("creditplatform.serve")

    def start(self) -> None:
        self._thread.start()

    def append(self, features: pd.DataFrame, **columns: object) -> None:
        """Queue ``features`` with ``columns`` added (scalars or one value per row); the frame
        is built by the writer thread, off the request's path."""
        self._queue.put((features, columns))

    def close(self) -> None:
        """Stop the writer after a last flush; rows it cannot write then (another process
        still holds the file) are lost, and the warning logged says how many."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self.flush()
        self.flush()

    def flush(self) -> None:
        while not self._queue.empty():
            features, columns = self._queue.get()
            self._pending.append(features.assign(**columns))
        if not self._pending:
            return
        rows = pd.concat(self._pending, ignore_index=True)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with duckdb.connect(str(self.path)) as con:
                con.register("new_rows", rows)
                con.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} AS FROM new_rows LIMIT 0")
                # A file an older service started lacks columns added since (shadow_pd, ...).
                for name, kind in con.execute(
                    f"SELECT column_name, column_type FROM (DESCRIBE new_rows) WHERE column_name "
                    f"NOT IN (SELECT column_name FROM (DESCRIBE {TABLE}))"
                ).fetchall():
                    con.execute(f'ALTER TABLE {TABLE} ADD COLUMN "{name}" {kind}')
                con.execute(f"INSERT INTO {TABLE} BY NAME SELECT * FROM new_rows")
        except duckdb.Error as err:
            self.failed_flushes += 1
            overflow = max(0, len(rows) - self.max_pending)
            if overflow:
                self.dropped += overflow
                rows = rows.iloc[overflow:]
            self._pending = [rows]
            self._log.warning(
                "request log not written, will retry",
                extra={"event": "request_log_retry", "rows": len(rows), "error": str(err)},
            )
            return
        self._pending = []
