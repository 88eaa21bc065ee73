"""Every path and threshold the platform uses, in one typed object with environment overrides.

Settings are read from the environment each time ``load_settings()`` is called rather than at
import, so tests and the CLI can point a process at a temporary data directory. An override is
``CREDITPLATFORM_<FIELD>`` in upper case (e.g. ``CREDITPLATFORM_TRAINING_WINDOW_MONTHS=6``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import quote

from creditplatform.warehouse.engine import WarehouseLocation

REPO_ROOT = Path(__file__).resolve().parents[1]
PROFILES = ("local", "production")
EVIDENTLY_VIEWS = ("drifted", "always")


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    start_month: str = "2024-01"
    # Feature data quality against the champion's training rows (warnings, never blocking):
    # a null rate moving this much (absolute), a mean moving this many reference standard
    # deviations, or this share of values outside the reference's [min, max].
    feature_null_rate_shift: float = 0.20
    feature_mean_shift_sds: float = 1.0
    feature_out_of_range_share: float = 0.05
    # Training window: the latest N matured months; the newest of them is the out-of-time set.
    training_window_months: int = 12
    # A month is matured when at least this share of its applications carry a label.
    matured_label_share: float = 0.99
    valid_share: float = 0.15
    test_share: float = 0.15
    seed: int = 42
    # Evaluation: PD at or above the policy threshold is declined; precision@k on the top share.
    policy_threshold: float = 0.2
    precision_at_k_share: float = 0.1
    # Every interval and test the platform decides with (evaluation, gates, performance rule).
    evidence_confidence: float = 0.95
    # Promotion gates (docs/architecture.md §4): Brier and ECE may be at most this much
    # worse, relative; no decision on fewer defaults (or non-defaults) than this in the test
    # set or in the out-of-time set.
    gate_relative_tolerance: float = 0.10
    gate_min_defaults: int = 50
    # Staged rollout (ml/canary.py): a candidate that passes the gates while a champion exists
    # becomes challenger and is shadow-scored; the canary decides once it has this many
    # applicants scored by both (or a whole month), and promotes only when the 95% interval
    # of each figure lies within its limit: approval-rate change at the policy threshold,
    # mean-PD change, PSI between the two PD distributions, share of decisions that flip.
    canary_min_applicants: int = 1000
    canary_max_approval_rate_delta: float = 0.02
    canary_max_mean_pd_delta: float = 0.02
    canary_max_psi: float = 0.10
    canary_max_flip_share: float = 0.05
    # Drift-triggered retraining (docs/architecture.md §4): all four must hold.
    drift_psi_threshold: float = 0.20
    drift_prediction_pvalue: float = 0.05
    drift_min_new_labelled_rows: int = 50
    drift_cooldown_hours: float = 24.0
    # Drift is measured against the champion's training rows of its newest N in-time months:
    # the population it last learnt, which moves with every retrain. A whole 12-month window
    # would keep a retrained model "drifted" for a year after a lasting shift; with 3 months, a
    # reference mixing pre- and post-shift months kept PSI at 2.2 while the champion's scores no
    # longer drifted, so no drift retrain could finish the move (make run, income_shift).
    drift_reference_months: int = 1
    # Which months' drift pages carry Evidently's per-column views: "drifted" (a month with a
    # drifted feature or prediction drift, where people look; ~4 s a month of plotting) or
    # "always". Every page leads with the verdict, the score plot and every feature's PSI.
    drift_evidently_views: str = "drifted"
    # Performance: a matured month is degraded when the champion's AUC on it is this much
    # below its test AUC (relative) and significantly below it, or when its observed default
    # rate is this far from the mean PD (relative) and significantly so; this many degraded
    # months in a row retrain (trigger=performance). Degraded this many months in a row (or a
    # performance retrain rejected), earlier versions are tried on the latest months.
    performance_relative_drop: float = 0.03
    performance_calibration_gap: float = 0.20
    performance_consecutive_months: int = 2
    degraded_months: int = 3
    # Freshness: a model older than this is overdue (staleness retrain); a champion older than
    # retire_after_days is flagged; a landing month is due by this day of the next month.
    model_max_age_days: float = 90.0
    retire_after_days: float = 90.0
    raw_due_day: int = 5
    # The first model waits for this many matured months.
    min_training_months: int = 6
    # A month whose ingest run failed or died (not on its contracts) is re-requested this often.
    ingest_max_retries: int = 2
    alert_webhook_url: str = ""
    # Where people open the two UIs: asset pages link to MLflow runs and versions, and MLflow
    # runs carry a link back to the Dagster run.
    mlflow_ui_url: str = "http://127.0.0.1:5000"
    dagster_ui_url: str = "http://127.0.0.1:3000"
    # The CLI's terminal lines: "text" for people, "json" (one object per line) for shippers.
    log_format: str = "text"
    mlflow_experiment: str = "creditplatform"
    registered_model: str = "creditplatform-pd"
    # Online scoring (`creditplatform serve`): loopback address and port; applicants per batch
    # call; how often the champion alias is re-checked; reason codes per applicant; whether
    # scored requests are appended to <data dir>/serving/requests.duckdb for monitoring.
    serve_host: str = "127.0.0.1"
    serve_port: int = 8000
    serve_batch_max: int = 1000
    # Threads that score single requests (each pass takes whatever requests are waiting).
    serve_scoring_threads: int = 2
    serve_reload_seconds: float = 30.0
    serve_reason_codes: int = 4
    serve_request_log: bool = True
    # A scoring thread that finds single requests still arriving waits this long for them, so
    # a burst lands in one pass (never when nothing else is arriving).
    serve_gather_ms: float = 2.0
    # Callers (serving/api_keys.py): each key's requests per second and burst; the largest
    # request body (a 1,000-applicant batch of landed rows is ~40 MB); paths open without a
    # key besides /health and the API docs (comma-separated; empty: all need a key).
    serve_rate_per_second: float = 200.0
    serve_rate_burst: int = 400
    serve_max_body_mb: float = 64.0
    serve_open_paths: str = "/ready,/metrics"
    # The keys file (hashes only); empty: <data dir>/serving/api_keys.json. A cluster mounts it
    # from a Secret (deploy/kubernetes/scoring.yaml); the service re-reads it when it changes.
    serve_api_keys_file: str = ""
    # Deployment profile (README "Production"): "local" keeps everything embedded (a DuckDB
    # file, SQLite-backed Dagster and MLflow); "production" puts the warehouse on DuckLake
    # (PostgreSQL catalog + Parquet under lake_data_path) and MLflow on PostgreSQL, and
    # deploy/production/dagster.yaml puts Dagster on PostgreSQL. One server, three databases.
    profile: str = "local"
    # No password here: libpq (under psycopg2 for Dagster and MLflow, and inside DuckDB's
    # PostgreSQL extension for the lake's catalog) reads PGPASSWORD or a PGPASSFILE when it
    # connects, so the password is in no URL, resource field, run config or log line.
    postgres_host: str = "127.0.0.1"
    postgres_port: int = 5432
    postgres_user: str = "creditplatform"
    postgres_lake_db: str = "creditplatform_lake"
    postgres_mlflow_db: str = "creditplatform_mlflow"
    postgres_dagster_db: str = "creditplatform_dagster"
    # Shared storage every worker mounts (production): the lake's Parquet files and MLflow's
    # artifacts. Empty means under the data dir.
    lake_data_path: str = ""
    mlflow_artifact_root: str = ""
    # Lake housekeeping (daily, production): snapshots younger than this stay for time travel.
    lake_snapshot_retention_days: float = 7.0

    def __post_init__(self) -> None:
        for field, allowed in (("profile", PROFILES), ("drift_evidently_views", EVIDENTLY_VIEWS)):
            value = getattr(self, field)
            if value not in allowed:
                raise ValueError(
                    f"CREDITPLATFORM_{field.upper()}={value!r}: expected one of "
                    f"{', '.join(allowed)}"
                )

    @property
    def production(self) -> bool:
        return self.profile == "production"

    def postgres_conninfo(self, database: str) -> str:
        """libpq key/value string (the DuckLake catalog and psycopg2 take this form)."""
        parts = {"host": self.postgres_host, "port": self.postgres_port}
        parts |= {"user": self.postgres_user, "dbname": database}
        return " ".join(f"{k}={v}" for k, v in parts.items())

    def postgres_url(self, database: str) -> str:
        """SQLAlchemy URL naming psycopg2: under SQLAlchemy 2.1 a bare ``postgresql://`` means
        psycopg 3, which breaks Dagster's event notifications."""
        login = quote(self.postgres_user, safe="")
        host = f"{self.postgres_host}:{self.postgres_port}"
        return f"postgresql+psycopg2://{login}@{host}/{database}"

    @property
    def warehouse(self) -> WarehouseLocation:
        if not self.production:
            return WarehouseLocation(self.warehouse_path)
        return WarehouseLocation(
            self.warehouse_path,
            self.postgres_conninfo(self.postgres_lake_db),
            self.lake_data_path or str(self.data_dir / "lake"),
        )

    @property
    def mlflow_artifacts(self) -> Path:
        return Path(self.mlflow_artifact_root or self.mlflow_dir / "artifacts")

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
    def mlflow_tracking_uri(self) -> str:
        """``MLFLOW_TRACKING_URI`` (a tracking server) if set, else the profile's store."""
        if os.environ.get("MLFLOW_TRACKING_URI"):
            return os.environ["MLFLOW_TRACKING_URI"]
        if self.production:
            return self.postgres_url(self.postgres_mlflow_db)
        return f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def dagster_storage_dir(self) -> Path:
        return self.data_dir / "dagster"

    @property
    def request_log_path(self) -> Path:
        """Where ``creditplatform serve`` appends the applicants it scored."""
        return self.data_dir / "serving" / "requests.duckdb"

    @property
    def api_keys_path(self) -> Path:
        """The scoring service's API keys (hashed; ``creditplatform serve-keys``)."""
        return Path(self.serve_api_keys_file or self.data_dir / "serving" / "api_keys.json")


def _parse(kind: type, text: str) -> object:
    """``true``/``1``/``yes``/``on`` (any case) for a flag; the field's own type otherwise."""
    if kind is bool:
        return text.strip().lower() in ("1", "true", "yes", "on")
    return kind(text)


# A variable that used to carry the password into URLs; set, it is refused with the way now.
# (bandit B105 reads "PASSWORD" in the name as a hard-coded password: it is a name.)
RETIRED_PASSWORD_VARIABLE = "CREDITPLATFORM_POSTGRES_PASSWORD"  # nosec B105


def load_settings() -> Settings:
    if os.environ.get(RETIRED_PASSWORD_VARIABLE):
        raise ValueError(
            f"{RETIRED_PASSWORD_VARIABLE} is no longer read: give the PostgreSQL password as "
            "PGPASSWORD (or a PGPASSFILE), which libpq reads when it connects, so the password "
            "never enters a URL, the Dagster UI or a log"
        )
    data_dir = Path(os.environ.get("CREDITPLATFORM_DATA_DIR") or REPO_ROOT / "data").resolve()
    overrides: dict[str, Any] = {}
    for spec in fields(Settings):
        value = os.environ.get(f"CREDITPLATFORM_{spec.name.upper()}")
        if spec.name != "data_dir" and value is not None:
            overrides[spec.name] = _parse(type(getattr(Settings, spec.name)), value)
    return Settings(data_dir=data_dir, **overrides)
