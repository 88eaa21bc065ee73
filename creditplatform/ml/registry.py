"""MLflow tracking and registry operations used by the assets (no Dagster import).

Aliases, not the deprecated stages, mark the champion and the challenger. Each registered
version carries the lineage tags of docs/architecture.md §5, including the SHA-256 of its
artifact directory, which is checked again before the model is ever loaded for scoring.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from creditplatform.crashpoints import crashpoint
from creditplatform.ml.lineage import directory_sha256
from creditplatform.ml.model_schema import feature_signature, reference_example
from creditplatform.processes import process_alive
from creditplatform.provenance import UNKNOWN
from creditplatform.settings import Settings
from creditplatform.warehouse.engine import advisory_lock

# Types our pipelines pickle that skops does not trust by default, each reviewed: our own
# frame function, sklearn internals of the calibrated booster, and numpy dtypes. The artifact
# SHA-256 recorded at registration is checked before any load, so a swapped file is refused.
TRUSTED_TYPES = [
    "creditplatform.ml.model.to_model_frame",
    "functools.partial",
    "numpy.dtype",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils.validation.check_array",
]
CHAMPION = "champion"
CHALLENGER = "challenger"
HOST_TAG = "creditplatform.host"
PID_TAG = "creditplatform.pid"
# A version may become champion only if it carries all of these (set at creation, atomically).
LINEAGE_TAGS = (
    "data_sha256", "training_rows", "label_rate", "feature_schema_version", "git_commit",
    "dagster_run_id", "trigger", "artifact_sha256",
)  # fmt: skip


class ArtifactTampered(Exception):
    """The model's files no longer hash to what was recorded when it was registered."""


class NoChampion(Exception):
    """The registry has no version under the champion alias yet."""


_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def _point_fluent_api(uri: str) -> None:
    """Point ``mlflow.start_run``/``log_model`` at ``uri`` without touching the environment.

    ``mlflow.set_tracking_uri`` also exports ``MLFLOW_TRACKING_URI``; ``Settings`` reads that
    variable as the user's choice of store, so after one registry call every later
    ``load_settings()`` in the process (another data dir, a test) would point at this store.
    The variables are restored to what the user set.
    """
    user = {name: os.environ.get(name) for name in _URI_VARIABLES}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    for name, value in user.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@dataclass(frozen=True)
class Registry:
    tracking_uri: str
    artifact_root: Path
    experiment: str
    model_name: str
    # PostgreSQL database holding the champion lock (production); empty on the local profile.
    lock_catalog: str = ""
    # Production: a version whose commit is ``unknown`` (an image built without its stamp)
    # lacks its lineage; a developer's checkout without git may still run the demo.
    require_commit: bool = False

    @classmethod
    def for_settings(cls, settings: Settings) -> Registry:
        return cls(
            settings.mlflow_tracking_uri,
            settings.mlflow_artifacts,
            settings.mlflow_experiment,
            settings.registered_model,
            settings.warehouse.lake_catalog,
            settings.production,
        )

    def champion_change(self) -> AbstractContextManager[None]:
        """Held while the champion alias or the promotion journal changes: promotions and the
        reconciler must never interleave (a pending journal row would look abandoned). The
        local profile's `warehouse` pool serialises them already; production workers run in
        parallel, so there it is a PostgreSQL advisory lock."""
        return advisory_lock(self.lock_catalog, "champion")

    def client(self) -> MlflowClient:
        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(
                parents=True, exist_ok=True
            )
        _point_fluent_api(self.tracking_uri)
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def experiment_id(self) -> str:
        client = self.client()
        found = client.get_experiment_by_name(self.experiment)
        if found is not None:
            return found.experiment_id
        self.artifact_root.mkdir(parents=True, exist_ok=True)
        return client.create_experiment(
            self.experiment, artifact_location=self.artifact_root.as_uri()
        )

    def before_run(self) -> dict[str, str]:
        """Ready the store for a run this process starts: the experiment exists (created with
        our artifact root, not MLflow's default), runs a killed process left RUNNING are closed
        as FAILED (``close_orphaned_runs``: SIGKILL ends no run), and the returned tags name
        this process, so the next run can close this one if it dies the same way."""
        close_orphaned_runs(self.client(), self.experiment_id())
        return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}

    def champion(self) -> ModelVersion | None:
        try:
            return self.client().get_model_version_by_alias(self.model_name, CHAMPION)
        except MlflowException:
            return None

    def version(self, version: int) -> ModelVersion:
        return self.client().get_model_version(self.model_name, str(version))


def _requirements() -> list[str]:
    import sklearn

    return [
        f"scikit-learn=={sklearn.__version__}",
        f"pandas=={pd.__version__}",
        f"numpy=={np.__version__}",
        f"mlflow=={mlflow.__version__}",
    ]


def log_sklearn_model(
    model: Any, name: str, reference: dict[str, Any]
) -> mlflow.models.model.ModelInfo:
    """A scikit-learn model in skops format (the baseline: read only by the platform); its
    signature and example are the contract's and the reference applicant's (``model_schema``)."""
    example = reference_example(reference)
    info: mlflow.models.model.ModelInfo = mlflow.sklearn.log_model(
        model,
        name=name,
        signature=feature_signature(example, model.predict_proba(example)[:, 1]),
        input_example=example,
        skops_trusted_types=TRUSTED_TYPES,
        pip_requirements=_requirements(),
    )
    return info


# The reason-code reference applicant (``ml.reason_codes``), logged inside the PD model.
REASON_REFERENCE = "reason_reference.json"


def log_pd_model(
    pipeline: Any, name: str, reason_reference: dict[str, Any]
) -> mlflow.models.model.ModelInfo:
    """The PD model as MLflow's python_function whose ``predict`` is the PD (``pd_pyfunc``).

    The signature is the feature contract as stored (DOUBLE numerics, VARCHAR categories, none
    required), so rows read straight from the store pass MLflow's schema enforcement; the input
    example is the reference applicant, never an applicant (``model_schema``). The reason-code
    reference travels with the model (artifact ``reason_reference``), so it is covered by the
    same SHA-256 and always belongs to the version that explains with it.
    """
    example = reference_example(reason_reference)
    with tempfile.TemporaryDirectory() as tmp:
        nested = Path(tmp) / "pipeline"
        mlflow.sklearn.save_model(
            pipeline, nested, serialization_format="skops", skops_trusted_types=TRUSTED_TYPES,
            pip_requirements=_requirements(),
        )  # fmt: skip
        reference = Path(tmp) / REASON_REFERENCE
        reference.write_text(json.dumps(reason_reference, indent=1, sort_keys=True), "utf-8")
        info: mlflow.models.model.ModelInfo = mlflow.pyfunc.log_model(
            name=name,
            python_model=Path(__file__).with_name("pd_pyfunc.py"),
            artifacts={"pipeline": str(nested), "reason_reference": str(reference)},
            signature=feature_signature(example, pipeline.predict_proba(example)[:, 1]),
            input_example=example,
            pip_requirements=_requirements(),
        )
        return info


def logged_model_dir(model_id: str) -> Path:
    """Local directory of a logged model's artifacts (embedded file-based artifact store)."""
    location = mlflow.get_logged_model(model_id).artifact_location
    return Path(location.removeprefix("file://"))


def close_orphaned_runs(client: MlflowClient, experiment_id: str) -> list[str]:
    """End as FAILED the RUNNING runs whose process (on this host) no longer exists."""
    closed = []
    host = socket.gethostname()
    for run in client.search_runs([experiment_id], "attributes.status = 'RUNNING'"):
        tags = run.data.tags
        if tags.get(HOST_TAG) != host or not tags.get(PID_TAG, "").isdigit():
            continue
        if not process_alive(int(tags[PID_TAG]), run.info.start_time / 1000):
            client.set_tag(run.info.run_id, "creditplatform.closed_because", "process died")
            client.set_terminated(run.info.run_id, status="FAILED")
            closed.append(run.info.run_id)
    return closed


def artifact_sha256(model_uri: str) -> str:
    """SHA-256 of a logged model's files, as downloaded (what a later load will check)."""
    with tempfile.TemporaryDirectory() as tmp:
        return directory_sha256(Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=tmp)))


def register(registry: Registry, model_uri: str, tags: dict[str, str]) -> ModelVersion:
    """Register a version with every lineage tag, its artifact hash included, at creation.

    MLflow writes a version and its tags in one database transaction, so no reader (and no
    crash) can see a READY version without its artifact SHA-256.
    """
    digest = artifact_sha256(model_uri)
    crashpoint("registration")
    version = mlflow.register_model(
        model_uri, registry.model_name, tags={**tags, "artifact_sha256": digest}
    )
    return registry.version(int(version.version))


def missing_lineage(registry: Registry, version: ModelVersion) -> list[str]:
    """Lineage tags this version lacks (it can never become champion while any is missing);
    under ``require_commit`` a commit of ``unknown`` is lacking too."""
    missing = [tag for tag in LINEAGE_TAGS if not version.tags.get(tag)]
    if registry.require_commit and version.tags.get("git_commit") == UNKNOWN:
        missing.append("git_commit (unknown: build the image with GIT_COMMIT)")
    return missing


@contextmanager
def _verified_copy(uri: str | None, expected: str | None, what: str) -> Iterator[Path]:
    """A downloaded copy of the artifact, only if it hashes to the SHA-256 recorded for it."""
    if not uri:
        raise ArtifactTampered(f"{what}: no artifact location recorded; refusing to load it")
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(mlflow.artifacts.download_artifacts(uri, dst_path=tmp))
        actual = directory_sha256(local)
        if not expected or actual != expected:
            raise ArtifactTampered(
                f"{what}: artifact SHA-256 {actual} does not match the {expected} recorded at "
                "registration; refusing to load it"
            )
        yield local


def _load_pipeline(local: Path) -> Any:
    """The fitted scikit-learn pipeline: the PD model's nested one, or a plain sklearn model."""
    if (local / "artifacts" / "pipeline").is_dir():
        return mlflow.sklearn.load_model(str(local / "artifacts" / "pipeline"))
    return mlflow.sklearn.load_model(str(local))


# Models this process loaded, by the SHA-256 their bytes were verified to have: loading costs
# ~0.5 s of MLflow and unpickling, and a monthly backfill loads the same champion every month.
# Every call still downloads and hashes the artifact, so a tampered one is refused all the same.
_loaded: dict[str, Any] = {}
_LOADED_MAX = 4  # champion, candidate and their baselines during an evaluation


def _verified_load(uri: str | None, expected: str | None, what: str) -> Any:
    with _verified_copy(uri, expected, what) as local:
        key = str(expected)  # the copy hashed to it, so it is a real SHA-256
        if key not in _loaded:
            if len(_loaded) >= _LOADED_MAX:
                _loaded.pop(next(iter(_loaded)))
            _loaded[key] = _load_pipeline(local)
        return _loaded[key]


def load_verified(registry: Registry, version: ModelVersion) -> Any:
    """Download, check the artifact hash recorded at registration, then load."""
    return _verified_load(
        version.source,
        version.tags.get("artifact_sha256"),
        f"model {registry.model_name} v{version.version}",
    )


def load_verified_baseline(registry: Registry, version: ModelVersion) -> Any:
    """The logistic baseline logged with ``version``, checked against its recorded SHA-256."""
    return _verified_load(
        version.tags.get("baseline_uri", ""),
        version.tags.get("baseline_sha256"),
        f"baseline of {registry.model_name} v{version.version}",
    )


def load_champion(registry: Registry) -> tuple[ModelVersion, Any]:
    champion = registry.champion()
    if champion is None:
        raise NoChampion(
            f"registered model {registry.model_name!r} has no '{CHAMPION}' alias yet: train and "
            "promote a model first (materialise retrain_job)"
        )
    return champion, load_verified(registry, champion)


def load_explained(registry: Registry, version: ModelVersion) -> tuple[Any, dict[str, Any] | None]:
    """The version's pipeline and its reason-code reference (None for a version logged before
    references were), from one download checked against the recorded SHA-256."""
    what = f"model {registry.model_name} v{version.version}"
    with _verified_copy(version.source, version.tags.get("artifact_sha256"), what) as local:
        reference = local / "artifacts" / REASON_REFERENCE
        explained = json.loads(reference.read_text("utf-8")) if reference.is_file() else None
        return _load_pipeline(local), explained


def champion_since(version: ModelVersion) -> datetime:
    """When this version became champion: the age the status, retirement and staleness use.

    Set when the alias moves; a version registered before the tag existed counts from its
    registration.
    """
    tag = version.tags.get("champion_since")
    if tag:
        return datetime.fromisoformat(tag)
    return datetime.fromtimestamp(version.creation_timestamp / 1000, tz=UTC)


def flag_retirement(registry: Registry, version: int, when: datetime) -> None:
    """Tag a champion past ``retire_after_days`` (``retirement_due``: when it was flagged), so
    the registry shows it as the alert says it."""
    registry.client().set_model_version_tag(
        registry.model_name, str(version), "retirement_due", when.isoformat(timespec="seconds")
    )


def target_problems(registry: Registry, version: int) -> tuple[ModelVersion | None, list[str]]:
    """Why ``version`` may not be made champion by hand (empty: it may)."""
    try:
        target = registry.version(version)
    except MlflowException:
        return None, [f"{registry.model_name} v{version} does not exist"]
    problems = [f"lineage tag {tag!r} is missing" for tag in missing_lineage(registry, target)]
    if not problems:
        try:
            with _verified_copy(target.source, target.tags["artifact_sha256"], f"v{version}"):
                pass  # the check is the download and hash; nothing is loaded
        except ArtifactTampered as err:
            problems.append(str(err))
    run = registry.client().get_run(target.run_id) if target.run_id else None
    if run is None or "test_roc_auc" not in run.data.metrics:
        problems.append(f"v{version} has no evaluation (no test metrics on its MLflow run)")
    return target, problems
