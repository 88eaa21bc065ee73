"""MLflow tracking and registry operations used by the assets (no Dagster import).

Aliases, not the deprecated stages, mark the champion and the challenger. Each registered
version carries the tags of DESIGN §5 plus the SHA-256 of its artifact directory, which is
checked again before the model is ever loaded for scoring.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from creditplatform.ml.lineage import directory_sha256
from creditplatform.settings import REPO_ROOT

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


class ArtifactTampered(Exception):
    """The model's files no longer hash to what was recorded when it was registered."""


class NoChampion(Exception):
    """The registry has no version under the champion alias yet."""


@dataclass(frozen=True)
class Registry:
    tracking_uri: str
    artifact_root: Path
    experiment: str
    model_name: str

    def client(self) -> MlflowClient:
        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(
                parents=True, exist_ok=True
            )
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
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

    @contextmanager
    def run(self, run_name: str, tags: dict[str, str]) -> Iterator[mlflow.ActiveRun]:
        """An MLflow run that is always ended, FAILED if the block raised."""
        experiment_id = self.experiment_id()
        active = mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags)
        try:
            yield active
        except BaseException:
            mlflow.end_run(status="FAILED")
            raise
        mlflow.end_run(status="FINISHED")

    def champion(self) -> ModelVersion | None:
        try:
            return self.client().get_model_version_by_alias(self.model_name, CHAMPION)
        except MlflowException:
            return None

    def version(self, version: int) -> ModelVersion:
        return self.client().get_model_version(self.model_name, str(version))


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def log_sklearn_model(
    model, name: str, example: pd.DataFrame, predict
) -> mlflow.models.model.ModelInfo:
    import sklearn

    signature = infer_signature(example, np.asarray(predict(example)))
    return mlflow.sklearn.log_model(
        model,
        name=name,
        signature=signature,
        input_example=example.head(3),
        skops_trusted_types=TRUSTED_TYPES,
        pip_requirements=[
            f"scikit-learn=={sklearn.__version__}",
            f"pandas=={pd.__version__}",
            f"numpy=={np.__version__}",
        ],
    )


def logged_model_dir(model_id: str) -> Path:
    """Local directory of a logged model's artifacts (embedded file-based artifact store)."""
    location = mlflow.get_logged_model(model_id).artifact_location
    return Path(location.removeprefix("file://"))


def register(registry: Registry, model_uri: str, tags: dict[str, str]) -> ModelVersion:
    version = mlflow.register_model(model_uri, registry.model_name, tags=tags)
    with tempfile.TemporaryDirectory() as tmp:
        digest = directory_sha256(
            Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=tmp))
        )
    registry.client().set_model_version_tag(
        registry.model_name, version.version, "artifact_sha256", digest
    )
    return registry.version(int(version.version))


def load_verified(registry: Registry, version: ModelVersion):
    """Download, check the artifact hash recorded at registration, then load."""
    expected = version.tags.get("artifact_sha256")
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(mlflow.artifacts.download_artifacts(version.source, dst_path=tmp))
        actual = directory_sha256(local)
        if expected is None or actual != expected:
            raise ArtifactTampered(
                f"model {registry.model_name} v{version.version}: artifact SHA-256 {actual} does "
                f"not match the {expected} recorded at registration; refusing to load it"
            )
        return mlflow.sklearn.load_model(str(local))


def load_champion(registry: Registry) -> tuple[ModelVersion, object]:
    champion = registry.champion()
    if champion is None:
        raise NoChampion(
            f"registered model {registry.model_name!r} has no '{CHAMPION}' alias yet: train and "
            "promote a model first (materialise retrain_job)"
        )
    return champion, load_verified(registry, champion)


def move_aliases(
    registry: Registry, version: int, previous: ModelVersion | None, when: str
) -> None:
    """challenger → version, then champion → version as the last step; archive the previous."""
    client = registry.client()
    client.set_registered_model_alias(registry.model_name, CHALLENGER, str(version))
    if previous is not None and int(previous.version) != version:
        client.set_model_version_tag(registry.model_name, previous.version, "archived", "true")
        client.set_model_version_tag(registry.model_name, previous.version, "archived_at", when)
    client.set_registered_model_alias(registry.model_name, CHAMPION, str(version))
