"""What the retrain assets hand each other (through the IO manager): small, explicit records."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SplitsInfo:
    split_set: str  # SHA-256 of the training frame; also names the rows in ml.training_splits
    window: list[str]
    oot_month: str
    rows: dict[str, int]
    label_rates: dict[str, float]
    seed: int

    @property
    def data_sha256(self) -> str:
        return self.split_set


@dataclass(frozen=True)
class CandidateInfo:
    version: int
    mlflow_run_id: str
    model_uri: str
    baseline_uri: str
    data_sha256: str
    training_rows: int
    label_rate: float
    feature_schema_version: int
    window: list[str]
    oot_month: str
    trigger: str
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class EvaluationInfo:
    candidate: CandidateInfo
    champion_version: int | None
    metrics: dict  # set -> model -> metric -> value
    report_dir: str
