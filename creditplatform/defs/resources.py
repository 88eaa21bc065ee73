"""Small typed resources; each environment swaps them by configuration, not by code."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from creditplatform.settings import load_settings


class PlatformPaths(dg.ConfigurableResource):
    """Where the landing drops are read and where the DuckDB warehouse lives."""

    data_dir: str

    @property
    def landing_dir(self) -> Path:
        return Path(self.data_dir) / "landing"

    @property
    def warehouse(self) -> Path:
        return Path(self.data_dir) / "warehouse.duckdb"

    @classmethod
    def from_settings(cls) -> PlatformPaths:
        return cls(data_dir=str(load_settings().data_dir))
