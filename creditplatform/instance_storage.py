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

from dagster import Field, StringSource
from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager
from dagster._core.storage.root import LocalArtifactStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage

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
