"""Small typed resources; each environment swaps them by configuration, not by code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from creditplatform.files import write_atomically
from creditplatform.ml.records import decode_record, encode_record
from creditplatform.settings import Settings

if TYPE_CHECKING:
    from creditplatform.ml.registry import Registry

# The one pool every step that opens the warehouse or moves the champion alias declares;
# its limit (1) is `concurrency: pools: default_limit` in dagster.yaml.
WAREHOUSE_POOL = "warehouse"
# A month's features, drift report and scores are retried in the same run, twice, 5 s then 10 s
# later, when their step fails (typically another process holding the DuckDB file: a user's
# shell, a notebook). A ``Failure`` raised with ``allow_retries=False`` (no champion, no
# features) is final. A partition that still fails stays FAILED and `status` lists it.
MONTHLY_RETRY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL)


class PlatformPaths(dg.ConfigurableResource):
    """Where the landing drops are read and where generated state lives."""

    data_dir: str

    @property
    def landing_dir(self) -> Path:
        return Path(self.data_dir) / "landing"

    @property
    def warehouse(self) -> Path:
        return Path(self.data_dir) / "warehouse.duckdb"

    @property
    def reports_dir(self) -> Path:
        return Path(self.data_dir) / "reports"


class Warehouse(DuckDBResource):
    """The DuckDB warehouse, opened through dagster-duckdb (it backs off on lock errors).

    The library's context manager does not close the connection when the body raises; a
    connection left to the garbage collector would keep DuckDB's file lock, so we close it.
    """

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        with super().get_connection() as con:
            try:
                yield con
            finally:
                con.close()


class JsonIOManager(dg.ConfigurableIOManager):
    """Stores the small records the retrain assets hand each other as JSON, never pickle.

    Dagster's default IO manager unpickles whatever file sits in its storage dir, so a crafted
    file there would run code on load; JSON of an allow-list of record types cannot. Dagster
    ships no JSON IO manager for plain records, hence this one. Writes are atomic (temp file +
    rename), so a process killed mid-write leaves the previous value.
    """

    base_dir: str

    def _path(self, context: dg.InputContext | dg.OutputContext) -> Path:
        key = context.asset_key.path if context.has_asset_key else [context.step_key, context.name]
        return Path(self.base_dir, *key).with_suffix(".json")

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        if obj is None:
            return
        write_atomically(self._path(context), json.dumps(encode_record(obj), indent=2))

    def load_input(self, context: dg.InputContext):
        path = self._path(context.upstream_output) if context.upstream_output else None
        if path is None or not path.exists():
            raise dg.Failure(
                f"no stored value for {context.asset_key.to_user_string()}: materialise it first"
            )
        return decode_record(json.loads(path.read_text()))


class MlflowResource(dg.ConfigurableResource):
    """Our one door to MLflow: tracking URI, experiment and registered model name.

    The embedded default is SQLite under the data dir; ``MLFLOW_TRACKING_URI`` points it at a
    tracking server instead, with no code change.
    """

    tracking_uri: str
    artifact_root: str
    experiment: str = "creditplatform"
    registered_model: str = "creditplatform-pd"
    ui_url: str = "http://127.0.0.1:5000"

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
            ui_url=settings.mlflow_ui_url,
        )
