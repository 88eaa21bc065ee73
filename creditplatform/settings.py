"""Every path and threshold the platform uses, in one typed object with environment overrides.

Settings are read from the environment each time ``load_settings()`` is called rather than at
import, so tests and the CLI can point a process at a temporary data directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    start_month: str = "2024-01"

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    @property
    def truth_dir(self) -> Path:
        return self.data_dir / "truth"

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def mlflow_dir(self) -> Path:
        return self.data_dir / "mlflow"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def dagster_storage_dir(self) -> Path:
        return self.data_dir / "dagster"


def load_settings() -> Settings:
    data_dir = Path(os.environ.get("CREDITPLATFORM_DATA_DIR") or REPO_ROOT / "data")
    return Settings(
        data_dir=data_dir.resolve(),
        start_month=os.environ.get("CREDITPLATFORM_START_MONTH", "2024-01"),
    )
