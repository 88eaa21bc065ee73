"""The resources every asset and sensor receives: paths, the warehouse, MLflow, and the rules.

Settings reach the shell one way only: ``definitions.py`` builds these from ``Settings``
(``creditplatform/settings.py``, the one file holding every default, each overridable as
``CREDITPLATFORM_<FIELD>``), and the UI's resource page shows the values a deployment runs with.
A rule resource's field names are the ``Settings`` field names, so the variable that sets a value
is the field name in upper case with the prefix. The resources hold no defaults of their own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Self

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from creditplatform import clock
from creditplatform.alerts import send_alert
from creditplatform.features.quality import QualityLimits
from creditplatform.files import write_atomically
from creditplatform.ml.gates import GatePolicy
from creditplatform.ml.policies import MetricPolicy, SplitPolicy
from creditplatform.ml.records import decode_record, encode_record
from creditplatform.ml.retrain_rules import PerformanceRules, RetrainRules
from creditplatform.settings import Settings
from creditplatform.warehouse.engine import WarehouseLocation, as_writer

if TYPE_CHECKING:
    from creditplatform.ml.canary import CanaryLimits
    from creditplatform.ml.registry import Registry

# The one pool every step that opens the warehouse or moves the champion alias declares;
# its limit (1) is `concurrency: pools: default_limit` in dagster.yaml.
WAREHOUSE_POOL = "warehouse"
# A month's ingest, features, drift report and scores are retried in the same run, twice, 5 s
# then 10 s later, when their step fails (typically another process holding the DuckDB file: a
# user's shell, a notebook; or a DuckLake commit conflict). A ``Failure`` raised with
# ``allow_retries=False`` (failed contracts, no landing, no champion, no features) is final. A
# partition that still fails stays FAILED and `status` lists it.
MONTHLY_RETRY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL)


class FromSettings(dg.ConfigurableResource):
    """A resource whose fields are ``Settings`` fields of the same name."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(**{name: getattr(settings, name) for name in cls.model_fields})


class PlatformPaths(FromSettings):
    """Where the landing drops are read and where generated state lives."""

    data_dir: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(data_dir=str(settings.data_dir))

    @property
    def landing_dir(self) -> Path:
        return Path(self.data_dir) / "landing"

    @property
    def reports_dir(self) -> Path:
        return Path(self.data_dir) / "reports"

    @property
    def alerts_file(self) -> Path:
        return self.reports_dir / "alerts.jsonl"

    def now(self) -> datetime:
        """The platform's clock for this data dir (``creditplatform.clock``)."""
        return clock.now(Path(self.data_dir))


class TrainingPolicy(FromSettings):
    """Which months train a model and how they are split."""

    training_window_months: int
    matured_label_share: float
    min_training_months: int
    valid_share: float
    test_share: float
    seed: int

    def split_policy(self) -> SplitPolicy:
        return SplitPolicy(**self.model_dump())


class ScoringPolicy(FromSettings):
    """How a model is judged: the decline threshold and the share precision@k looks at."""

    policy_threshold: float
    precision_at_k_share: float
    evidence_confidence: float

    def metric_policy(self) -> MetricPolicy:
        return MetricPolicy(**self.model_dump())


class PromotionGates(FromSettings):
    """How much worse than the champion a challenger may be on Brier and ECE (relative), and
    how many defaults a decision needs."""

    gate_relative_tolerance: float
    gate_min_defaults: int

    def gate_policy(self) -> GatePolicy:
        return GatePolicy(self.gate_relative_tolerance, self.gate_min_defaults)


class RolloutPolicy(FromSettings):
    """When the canary may decide, and how far a challenger may move the champion's decisions
    on the same applicants before a person must approve it (ml/canary.py)."""

    canary_min_applicants: int
    canary_max_approval_rate_delta: float
    canary_max_mean_pd_delta: float
    canary_max_psi: float
    canary_max_flip_share: float
    evidence_confidence: float
    policy_threshold: float

    def canary_limits(self) -> CanaryLimits:
        from creditplatform.ml.canary import CanaryLimits  # its statistics import scipy

        return CanaryLimits.of(self)


class DriftRules(FromSettings):
    """When drift or falling performance retrains, and what drift is measured against."""

    drift_psi_threshold: float
    drift_prediction_pvalue: float
    drift_min_new_labelled_rows: int
    drift_cooldown_hours: float
    drift_reference_months: int
    drift_evidently_views: str
    performance_relative_drop: float
    performance_calibration_gap: float
    performance_consecutive_months: int
    degraded_months: int
    evidence_confidence: float

    def performance_rules(self) -> PerformanceRules:
        return PerformanceRules(
            self.performance_relative_drop, self.performance_calibration_gap,
            self.evidence_confidence, self.performance_consecutive_months, self.degraded_months,
        )  # fmt: skip

    def retrain_rules(self) -> RetrainRules:
        return RetrainRules(
            psi_threshold=self.drift_psi_threshold,
            prediction_pvalue=self.drift_prediction_pvalue,
            min_new_labelled_rows=self.drift_min_new_labelled_rows,
            cooldown_hours=self.drift_cooldown_hours,
        )


class FeatureQuality(FromSettings):
    """How far a month's features may move from the champion's training rows (warnings)."""

    feature_null_rate_shift: float
    feature_mean_shift_sds: float
    feature_out_of_range_share: float

    def limits(self) -> QualityLimits:
        return QualityLimits(
            self.feature_null_rate_shift, self.feature_mean_shift_sds,
            self.feature_out_of_range_share,
        )  # fmt: skip


class Freshness(FromSettings):
    """How old a model, a champion and a landing month may get; how often ingest retries."""

    model_max_age_days: float
    retire_after_days: float
    raw_due_day: int
    ingest_max_retries: int


class Alerts(dg.ConfigurableResource):
    """Every alert is appended to ``<data dir>/reports/alerts.jsonl`` and POSTed to the webhook
    when one is set (``creditplatform.alerts``)."""

    alerts_file: str
    alert_webhook_url: str

    def send(self, alert: dict) -> dict:
        return send_alert(Path(self.alerts_file), self.alert_webhook_url, alert)


class Warehouse(DuckDBResource):
    """The warehouse (``creditplatform.warehouse.engine``): the local DuckDB file opened
    through dagster-duckdb (it backs off on lock errors), or, with ``lake_catalog`` set, the
    production DuckLake lake (``database`` is then unused).

    The library's context manager does not close the connection when the body raises; a
    connection left to the garbage collector would keep DuckDB's file lock, so we close it.
    """

    lake_catalog: str
    lake_data_path: str
    lake_snapshot_retention_days: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        location = settings.warehouse
        return cls(
            database=str(location.path),
            lake_catalog=location.lake_catalog,
            lake_data_path=location.lake_data_path,
            lake_snapshot_retention_days=settings.lake_snapshot_retention_days,
        )

    def location(self) -> WarehouseLocation:
        return WarehouseLocation(Path(self.database), self.lake_catalog, self.lake_data_path)

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if self.location().is_lake:
            opened: AbstractContextManager[duckdb.DuckDBPyConnection] = closing(
                self.location().connect()
            )
        else:
            Path(self.database).parent.mkdir(parents=True, exist_ok=True)
            opened = super().get_connection()
        with opened as con:
            if not self.location().is_lake:
                as_writer(con)
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
        if context.has_asset_key:
            return Path(self.base_dir, *context.asset_key.path).with_suffix(".json")
        # An op's output, read back by the op downstream through its own input context.
        output = context if isinstance(context, dg.OutputContext) else context.upstream_output
        if output is None:
            raise dg.DagsterInvariantViolationError(
                f"input {context.name!r} has no upstream output"
            )
        return Path(self.base_dir, str(output.step_key), output.name).with_suffix(".json")

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
    """Our one door to MLflow: tracking URI, experiment, registered model name, and the two UIs'
    addresses (asset pages link to MLflow runs; MLflow runs link back to their Dagster run).

    The embedded default is SQLite under the data dir; ``MLFLOW_TRACKING_URI`` points it at a
    tracking server instead, with no code change.
    """

    tracking_uri: str
    artifact_root: str
    experiment: str
    registered_model: str
    ui_url: str
    dagster_ui_url: str
    # Where the champion lock is held (production: the lake's catalog database).
    lock_catalog: str

    def registry(self) -> Registry:
        from creditplatform.ml.registry import Registry  # MLflow loads only when used

        return Registry(
            self.tracking_uri,
            Path(self.artifact_root),
            self.experiment,
            self.registered_model,
            self.lock_catalog,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> MlflowResource:
        return cls(
            tracking_uri=settings.mlflow_tracking_uri,
            artifact_root=str(settings.mlflow_artifacts),
            experiment=settings.mlflow_experiment,
            registered_model=settings.registered_model,
            ui_url=settings.mlflow_ui_url,
            dagster_ui_url=settings.dagster_ui_url,
            lock_catalog=settings.warehouse.lake_catalog,
        )
