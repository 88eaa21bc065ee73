"""What the retrain assets hand each other (through the IO manager): small, explicit records."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, get_args


@dataclass(frozen=True)
class ModelParams:
    """Hyper-parameters of the PD model (here, not in ``model``, so reading the defaults
    does not import scikit-learn)."""

    learning_rate: float = 0.05
    max_iter: int = 200
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 100
    l2_regularization: float = 1.0
    calibration: str = "isotonic"
    seed: int = 42

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def overrides(cls, pairs: list[str]) -> dict[str, Any]:
        """``["learning_rate=0.1", ...]`` as typed values for a run's ``candidate_model``
        config; an unknown name or a value of the wrong type is refused with what is allowed
        (the seed is a setting, so the split and the fit stay reproducible)."""
        kinds = {f.name: str(f.type) for f in fields(cls) if f.name != "seed"}
        found: dict[str, Any] = {}
        for pair in pairs:
            name, sep, text = pair.partition("=")
            if not sep or name not in kinds:
                raise ValueError(
                    f"--param {pair!r}: expected name=value, name one of {', '.join(kinds)}"
                )
            kind: type = {"float": float, "int": int, "str": str}[kinds[name]]
            try:
                found[name] = kind(text)
            except ValueError:
                raise ValueError(f"--param {pair!r}: {name} takes {kinds[name]} values") from None
        return found


def request_note(reason: str, window: list[str], params: dict[str, Any]) -> str:
    """What a person asked for, for the audit row: the reason, the window and every
    hyper-parameter that differs from the defaults."""
    defaults = ModelParams().as_dict()
    changed = [f"{k}={v} (default {defaults[k]})" for k, v in params.items()
               if k in defaults and k != "seed" and v != defaults[k]]  # fmt: skip
    return (
        f"requested: {reason}; window {len(window)} month(s) {window[0]}..{window[-1]}; "
        f"parameters: {', '.join(changed) or 'defaults'}"
    )


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
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EvaluationInfo:
    candidate: CandidateInfo
    champion_version: int | None
    metrics: dict[str, Any]  # set -> model -> metric -> value (intervals: "<metric>_ci": [lo, hi])
    report_dir: str
    comparisons: dict[str, Any] = field(default_factory=dict)  # set -> paired tests (evaluation.py)


# The record types an asset may hand another through the JSON IO manager; nothing else decodes.
Record = SplitsInfo | CandidateInfo | EvaluationInfo
RECORD_TYPES: dict[str, type] = {cls.__name__: cls for cls in get_args(Record)}


def encode_record(obj: object) -> dict[str, Any]:
    """``{"type": name, "value": ...}`` for a record, or a plain JSON value as type ``json``."""
    if isinstance(obj, Record):
        return {"type": type(obj).__name__, "value": asdict(obj)}
    return {"type": "json", "value": obj}


def _build(cls: type, value: dict[str, Any]) -> Any:
    kwargs: dict[str, Any] = {}
    for spec in fields(cls):
        if spec.name not in value:  # stored before the field existed: its default
            continue
        item = value[spec.name]
        kwargs[spec.name] = _build(CandidateInfo, item) if spec.name == "candidate" else item
    return cls(**kwargs)


def decode_record(payload: dict[str, Any]) -> Any:
    """The inverse of ``encode_record``; an unknown type is refused, never instantiated."""
    kind, value = payload.get("type"), payload.get("value")
    if kind == "json":
        return value
    if kind not in RECORD_TYPES:
        raise ValueError(f"refusing to decode a stored value of unknown type {kind!r}")
    if not isinstance(value, dict):
        raise ValueError(f"a stored {kind} record is not an object: {value!r}")
    return _build(RECORD_TYPES[kind], value)
