"""Small typed resources; each environment swaps them by configuration, not by code."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from creditplatform.settings import Settings

if TYPE_CHECKING:
    from creditplatform.ml.registry import Registry


class PlatformPaths(dg.ConfigurableResource):
    """Where the landing drops are read and where the DuckDB warehouse lives."""

    data_dir: str

    @property
    def landing_dir(self) -> Path:
        return Path(self.data_dir) / "landing"

    @property
    def warehouse(self) -> Path:
        return Path(self.data_dir) / "warehouse.duckdb"


class MlflowResource(dg.ConfigurableResource):
    """Our one door to MLflow: tracking URI, experiment and registered model name.

    The embedded default is SQLite under the data dir; ``MLFLOW_TRACKING_URI`` points it at a
    tracking server instead, with no code change.
    """

    tracking_uri: str
    artifact_root: str
    experiment: str = "creditplatform"
    registered_model: str = "creditplatform-pd"

    def registry(self) -> Registry:
        from creditplatform.ml.registry import Registry  # MLflow loads only when used

        return Registry(
            self.tracking_uri, Path(self.artifact_root), self.experiment, self.registered_model
        )

    @classmethod
    def for_settings(cls, settings: Settings) -> MlflowResource:
        return cls(
            tracking_uri=settings.mlflow_tracking_uri,
            artifact_root=str(settings.mlflow_dir / "artifacts"),
            experiment=settings.mlflow_experiment,
            registered_model=settings.registered_model,
        )
