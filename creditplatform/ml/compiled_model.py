"""The champion compiled for one-row-at-a-time scoring: the same fitted objects, fewer layers.

Scoring one applicant through the registered pipeline costs ~20-27 ms, almost all of it fixed:
pandas conversion in the frame step, the ColumnTransformer, input validation, and an OpenMP
thread pool woken for a single row. ``CompiledModel`` keeps every fitted object and calls the
same routines underneath: category levels become the ordinal encoder's own codes (a dict
built from its ``categories_``), numbers pass through as float64, the boosted trees run their
own prediction routine (``_raw_predict``) on one thread, and the isotonic map is the fitted
calibrator's ``predict``. Nothing is re-implemented that could drift from scikit-learn except
the lookup of a level's code.

The booster's public ``_raw_predict`` is not that routine: it first runs the booster's own
ColumnTransformer and OrdinalEncoder (it remaps category codes to the ones it trained on),
most of the time a one-row call takes. The compiler folds that remapping into the
level-to-code dict and calls each tree's ``predict`` (scikit-learn's compiled tree walk)
itself, adding the trees in the order scikit-learn does.

A compiled model is only used after it has been **verified equal** to the pipeline: both score
a set of probe rows built from the model itself (the reference applicant, every feature at
each of the booster's bin thresholds and missing, every category level and an unknown one),
and every PD must be bitwise equal. A pipeline of another shape, or one that disagrees on any
probe, raises ``NotCompilable``: the service then refuses that champion and keeps the one it
has. Reason codes use the same compiled margin on a float matrix.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from creditplatform.ml.model import MISSING_LEVEL, to_model_frame

# Rows from which the trees walk on every core (each row's sum is the same either way).
PARALLEL_ROWS = 20_000
# The calibrated PD of a binary CalibratedClassifierCV, as scikit-learn clips it.
_ONE_PLUS = 1.0 + 1e-5


class NotCompilable(ValueError):
    """The pipeline is not of the shape the compiler knows, or disagrees with its compiled form."""


@dataclass(frozen=True)
class CompiledModel:
    """PD and margin of feature rows, by the champion's own fitted objects on one thread."""

    categorical: tuple[str, ...]
    numeric: tuple[str, ...]
    codes: tuple[dict[str, float], ...]  # level -> the code the trees were grown on
    trees: tuple[Any, ...]  # scikit-learn TreePredictors, in boosting order
    known_categories: tuple[np.ndarray, np.ndarray]  # (bitsets, feature index map)
    baseline: np.ndarray
    calibrator: Any  # the fitted isotonic or sigmoid calibrator

    def encode(self, levels: np.ndarray, numbers: np.ndarray) -> np.ndarray:
        """The booster's input: category codes (NaN for an unknown level) then the numbers.

        ``levels`` are ``levels``' strings (``MISSING_LEVEL`` for missing), ``numbers`` float64.
        """
        matrix = np.empty((len(numbers), len(self.codes) + numbers.shape[1]), dtype=np.float64)
        for j, codes in enumerate(self.codes):
            matrix[:, j] = [codes.get(level, np.nan) for level in levels[:, j]]
        matrix[:, len(self.codes) :] = numbers
        return matrix

    def margin(self, matrix: np.ndarray) -> np.ndarray:
        """The booster's raw score (log-odds before calibration) of encoded rows: the baseline,
        then each tree's value added in turn, as ``_raw_predict`` adds them. One thread for a
        few rows (waking a pool costs more than the walk); every core for many (a batch's
        reason codes: ~100 counterfactual rows per applicant)."""
        rows = np.ascontiguousarray(matrix, dtype=np.float64)
        threads = 1 if len(rows) < PARALLEL_ROWS else os.cpu_count() or 1
        raw = np.zeros(len(rows), dtype=self.baseline.dtype)
        raw += self.baseline
        bitsets, feature_map = self.known_categories
        for tree in self.trees:
            raw += tree.predict(rows, bitsets, feature_map, threads)
        return raw

    def pd_of_margin(self, margin: np.ndarray) -> np.ndarray:
        """The calibrated PD, exactly as ``CalibratedClassifierCV.predict_proba`` makes it."""
        pds = np.asarray(self.calibrator.predict(margin), dtype=np.float64)
        pds[(pds > 1.0) & (pds <= _ONE_PLUS)] = 1.0
        return pds

    def split(self, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(category levels as strings, numbers as float64) of a feature frame, as the
        pipeline's frame step sees them (a missing level is ``MISSING_LEVEL``)."""
        categories = features.loc[:, list(self.categorical)].to_numpy(dtype=object)
        levels = np.array([[_level(v) for v in row] for row in categories], dtype=object)
        numbers = features.loc[:, list(self.numeric)].to_numpy(dtype=np.float64, na_value=np.nan)
        return levels.reshape(len(features), len(self.categorical)), numbers

    def predict_pd(self, features: pd.DataFrame) -> np.ndarray:
        return self.pd_of_margin(self.margin(self.encode(*self.split(features))))


def _level(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return MISSING_LEVEL
    return str(value)


def _steps(pipeline: Any) -> tuple[Any, Any]:
    """(the fitted booster pipeline, its calibrator) of a registered PD model."""
    calibrated = getattr(pipeline, "calibrated_classifiers_", None)
    if calibrated is None:
        raise NotCompilable("the model is not a calibrated classifier")
    if len(calibrated) != 1 or len(calibrated[0].calibrators) != 1:
        raise NotCompilable("expected one calibrator of a binary classifier")
    inner = calibrated[0].estimator
    inner = getattr(inner, "estimator", inner)  # FrozenEstimator wraps the fitted pipeline
    return inner, calibrated[0].calibrators[0]


def compile_model(pipeline: Any) -> CompiledModel:
    """The compiled form of ``pipeline`` (not yet verified: see ``verified``)."""
    booster_pipeline, calibrator = _steps(pipeline)
    steps = dict(getattr(booster_pipeline, "named_steps", {}))
    if set(steps) != {"frame", "encode", "model"}:
        raise NotCompilable(f"unexpected pipeline steps {sorted(steps)}")
    frame, encode, booster = steps["frame"], steps["encode"], steps["model"]
    if getattr(frame, "func", None) is not to_model_frame:
        raise NotCompilable("the frame step is not to_model_frame")
    categorical = tuple(frame.kw_args["categorical"])
    numeric = tuple(frame.kw_args["numeric"])
    if not hasattr(booster, "_predictors") or booster.n_trees_per_iteration_ != 1:
        raise NotCompilable("the model step is not a binary HistGradientBoostingClassifier")
    # Assumed, not checked here: the encoder outputs the categories' codes then the numbers in
    # the frame step's order, and the booster's own encoder keeps the categories first.
    # ``verified`` finds out on the probe rows when either is wrong.
    ordinal = dict((name, step) for name, step, _ in encode.transformers_).get("categories")
    ours = ordinal.categories_ if categorical and ordinal is not None else []
    inner = booster._preprocessor
    theirs = inner.named_transformers_["encoder"].categories_ if inner is not None else None
    codes = []
    for j, levels in enumerate(ours):
        remap = (
            {float(v): float(i) for i, v in enumerate(theirs[j]) if not np.isnan(v)}
            if theirs is not None
            else {float(i): float(i) for i in range(len(levels))}
        )
        codes.append({str(level): remap.get(float(code), np.nan)
                      for code, level in enumerate(levels)})  # fmt: skip
    return CompiledModel(
        categorical, numeric, tuple(codes),
        tuple(iteration[0] for iteration in booster._predictors),
        booster._bin_mapper.make_known_categories_bitsets(),
        booster._baseline_prediction[0], calibrator,
    )  # fmt: skip


def probe_rows(model: CompiledModel, reference: dict[str, Any] | None) -> pd.DataFrame:
    """Rows that exercise every split and level of ``model``, built from the model itself.

    Start from the reference applicant (median/mode of the training rows; zeros and the first
    level without one), then change one feature at a time: each numeric feature to every bin
    threshold of the booster (and just above it) and to missing; each categorical feature to
    every level it knows, an unknown level and missing. No applicant's row is used.
    """
    reference = reference or {}
    base: dict[str, object] = {
        c: reference.get(c) if reference.get(c) is not None else 0.0 for c in model.numeric
    }
    for c, codes in zip(model.categorical, model.codes, strict=True):
        base[c] = reference.get(c) or next(iter(codes), None)
    rows: list[dict[str, object]] = [base]
    thresholds = _thresholds(model.trees, len(model.categorical), len(model.numeric))
    for c, values in zip(model.numeric, thresholds, strict=True):
        rows += [{**base, c: v} for v in (*values, *np.nextafter(values, np.inf), np.nan)]
    for c, codes in zip(model.categorical, model.codes, strict=True):
        rows += [{**base, c: level} for level in (*codes, "__unknown_level__", None)]
    return pd.DataFrame(rows, columns=[*model.categorical, *model.numeric])


def _thresholds(trees: Sequence[Any], skip: int, count: int) -> list[np.ndarray]:
    """Every split threshold the trees use on each numeric feature (sorted, unique)."""
    found: list[set[float]] = [set() for _ in range(count)]
    for tree in trees:
        nodes = tree.nodes[(tree.nodes["is_leaf"] == 0) & (tree.nodes["is_categorical"] == 0)]
        for feature, threshold in zip(nodes["feature_idx"], nodes["num_threshold"], strict=True):
            if skip <= feature < skip + count:
                found[feature - skip].add(float(threshold))
    return [np.array(sorted(values), dtype=np.float64) for values in found]


def verified(pipeline: Any, reference: dict[str, Any] | None) -> CompiledModel:
    """The compiled form of ``pipeline`` after it scored every probe row bitwise like it."""
    model = compile_model(pipeline)
    probes = probe_rows(model, reference)
    expected = pipeline.predict_proba(to_model_frame(probes, model.categorical, model.numeric))
    got = model.predict_pd(probes)
    differ = np.flatnonzero(expected[:, 1].view(np.int64) != got.view(np.int64))
    if len(differ):
        raise NotCompilable(
            f"the compiled model disagrees with its pipeline on {len(differ)} of "
            f"{len(probes)} probe rows (first: row {int(differ[0])}, "
            f"{float(got[differ[0]])!r} vs {float(expected[differ[0], 1])!r})"
        )
    return model
