"""Dagster instance storage that follows the data dir with no environment variable required.

``dagster.yaml`` names these classes instead of ``sqlite: base_dir: {env: ...}`` because
Dagster's ``env:`` source has no default: the plain ``dagster`` CLI, ``dagster dev`` and the
daemon must work with only ``DAGSTER_HOME`` set (or nothing set), exactly like our own CLI.
The storage directory is ``$CREDITPLATFORM_DAGSTER_STORAGE`` if set, else ``<data dir>/dagster``
(the data dir being ``$CREDITPLATFORM_DATA_DIR`` or ``<repo>/data``); ``base_dir`` in the YAML
still overrides both.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import sqlalchemy as db
from dagster import Field, StringSource
from dagster._core.storage.event_log.schema import ConcurrencyLimitsTable
from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager
from dagster._core.storage.root import LocalArtifactStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.event_log import PostgresEventLogStorage

from creditplatform.settings import load_settings


def default_storage_dir() -> str:
    """Where the instance keeps runs, events, schedules, compute logs and artifacts."""
    explicit = os.environ.get("CREDITPLATFORM_DAGSTER_STORAGE")
    return explicit or str(load_settings().dagster_storage_dir)


def _base_dir(config_value: dict) -> dict:
    return {**config_value, "base_dir": config_value.get("base_dir") or default_storage_dir()}


_OPTIONAL_BASE_DIR = {"base_dir": Field(StringSource, is_required=False)}


class DataDirSqliteStorage(DagsterSqliteStorage):
    """SQLite run, event-log and schedule storage under the data dir.

    Opening the storage creates and stamps its SQLite schemas; two processes doing that at once
    on a fresh data dir (two CLI commands, or a command next to ``dagster dev``) leave alembic
    with two heads and every later open fails. Opening therefore holds an exclusive file lock.
    """

    @classmethod
    def config_type(cls):
        return _OPTIONAL_BASE_DIR

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        base_dir = _base_dir(config_value)["base_dir"]
        Path(base_dir).mkdir(parents=True, exist_ok=True)
        with open(Path(base_dir) / ".open.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return cls.from_local(base_dir, inst_data=inst_data)


class DataDirArtifactStorage(LocalArtifactStorage):
    """Local artifact storage (the IO manager's default root) under the data dir."""

    @classmethod
    def config_type(cls):
        return _OPTIONAL_BASE_DIR

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **_base_dir(config_value))


class DataDirComputeLogManager(LocalComputeLogManager):
    """Captured stdout/stderr of each step under the data dir."""

    @classmethod
    def config_type(cls):
        return {**_OPTIONAL_BASE_DIR, "polling_timeout": Field(float, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **_base_dir(config_value))


class PoolSafePostgresEventLogStorage(PostgresEventLogStorage):
    """Dagster's event log on PostgreSQL, with one fix: the first claim of a pool's slots
    initialises the pool's limit by an INSERT that, when another process inserted first, is
    followed by an UPDATE inside the same transaction, which PostgreSQL has already aborted.
    Two runs starting together on a new instance then fail one of them (1 in 3 tries of four
    ingests at once, ``benchmarks/concurrency.py``). Here the initialisation holds an advisory
    lock, and a pool another process initialised meanwhile is only brought to the default."""

    def initialize_concurrency_limit_to_default(self, concurrency_key: str) -> bool:
        default_limit = (
            self._instance.global_op_concurrency_default_limit if self.has_instance else None
        )
        if default_limit is None:
            return super().initialize_concurrency_limit_to_default(concurrency_key)
        key = f"creditplatform:dagster-pool:{concurrency_key}"
        with self._engine.connect() as lock:
            lock.execute(db.text("SELECT pg_advisory_lock(hashtext(:key))"), {"key": key})
            lock.commit()
            try:
                with self.index_connection() as conn:
                    row = conn.execute(
                        db.select(ConcurrencyLimitsTable.c.limit).where(
                            ConcurrencyLimitsTable.c.concurrency_key == concurrency_key
                        )
                    ).first()
                if row is None:
                    return super().initialize_concurrency_limit_to_default(concurrency_key)
                with self.index_transaction() as conn:
                    conn.execute(
                        ConcurrencyLimitsTable.update()
                        .values(limit=default_limit)
                        .where(
                            db.and_(
                                ConcurrencyLimitsTable.c.concurrency_key == concurrency_key,
                                ConcurrencyLimitsTable.c.using_default_limit,
                                ConcurrencyLimitsTable.c.limit != default_limit,
                            )
                        )
                    )
                    self._allocate_concurrency_slots(conn, concurrency_key, default_limit)
                return True
            finally:
                lock.execute(db.text("SELECT pg_advisory_unlock(hashtext(:key))"), {"key": key})
                lock.commit()


class SettingsPostgresStorage(DagsterPostgresStorage):
    """The production profile's run, event-log and schedule storage on PostgreSQL, at the
    address ``Settings`` gives (``CREDITPLATFORM_POSTGRES_*``), so the instance, MLflow and
    the lake read one set of variables. The URL names psycopg2 (see ``Settings.postgres_url``);
    ``postgres_url`` in the YAML overrides it."""

    @classmethod
    def config_type(cls):
        return {"postgres_url": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        settings = load_settings()
        url = config_value.get("postgres_url") or settings.postgres_url(
            settings.postgres_dagster_db
        )
        return cls(postgres_url=url, inst_data=inst_data)

    def __init__(self, postgres_url: str, inst_data=None):
        super().__init__(postgres_url, inst_data=inst_data)
        self._event_log_storage = PoolSafePostgresEventLogStorage(postgres_url)
