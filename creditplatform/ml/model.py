"""The PD model: a scikit-learn pipeline fitted on the train split only, calibrated on valid.

Everything learnt from data — category codes, imputation medians, scaling, the trees and the
calibration map — lives inside fitted estimators, so scoring new data can never refit them and
no statistic of the valid, test or out-of-time rows reaches the model through preprocessing.
Class imbalance is left as it is (no class weights, no resampling), which keeps the boosted
model's PDs close to calibrated; isotonic calibration on the valid split corrects the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder, StandardScaler

from creditplatform.features.catalog import (
    APPLICATION_NUMERIC_FEATURES,
    CATEGORICAL_FEATURES,
    NUMERIC_FEATURES,
)
from creditplatform.ml.records import ModelParams

# What a missing category becomes before encoding: a level of its own.
MISSING_LEVEL = "__missing__"


def to_model_frame(
    frame: pd.DataFrame,
    categorical: tuple[str, ...] = CATEGORICAL_FEATURES,
    numeric: tuple[str, ...] = NUMERIC_FEATURES,
) -> pd.DataFrame:
    """Feature columns with plain dtypes: float64 numerics (NaN for missing), object categories.

    Converted as two blocks, not column by column: this step runs on every prediction, and
    for a single applicant its fixed per-column cost was half of the model's latency.
    """
    categories = frame.loc[:, list(categorical)].astype(object)
    categories = categories.where(categories.notna(), MISSING_LEVEL)
    numbers = frame.loc[:, list(numeric)]
    text = [c for c, dtype in numbers.dtypes.items() if not pd.api.types.is_numeric_dtype(dtype)]
    if text:
        numbers = numbers.assign(
            **{str(c): pd.to_numeric(numbers[c], errors="coerce") for c in text}
        )
    numbers = numbers.astype("float64")
    return pd.concat([categories, numbers], axis=1).set_axis(frame.index, axis=0)


def _frame_step(categorical: tuple[str, ...], numeric: tuple[str, ...]) -> FunctionTransformer:
    return FunctionTransformer(
        to_model_frame, kw_args={"categorical": categorical, "numeric": numeric}
    )


def gradient_boosting(
    params: ModelParams,
    categorical: tuple[str, ...] = CATEGORICAL_FEATURES,
    numeric: tuple[str, ...] = NUMERIC_FEATURES,
) -> Pipeline:
    encode = ColumnTransformer(
        [
            (
                "categories",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan),
                list(categorical),
            ),
            ("numbers", "passthrough", list(numeric)),
        ],
        verbose_feature_names_out=False,
    )
    booster = HistGradientBoostingClassifier(
        learning_rate=params.learning_rate,
        max_iter=params.max_iter,
        max_leaf_nodes=params.max_leaf_nodes,
        min_samples_leaf=params.min_samples_leaf,
        l2_regularization=params.l2_regularization,
        categorical_features=list(range(len(categorical))),
        early_stopping=False,
        random_state=params.seed,
    )
    return Pipeline(
        [("frame", _frame_step(categorical, numeric)), ("encode", encode), ("model", booster)]
    )


def logistic_baseline(numeric: tuple[str, ...] = APPLICATION_NUMERIC_FEATURES) -> Pipeline:
    """The naive baseline every candidate must beat: logistic regression on the application
    row alone (imputed, scaled), like the public "application table only" kernels. Beating it
    shows the child-table features and the boosted model earn their keep."""
    return Pipeline(
        [
            ("frame", _frame_step((), numeric)),
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(C=0.1, max_iter=2000)),
        ]
    )


@dataclass
class TrainedModels:
    model: CalibratedClassifierCV
    baseline: Pipeline


def train(
    train_x: pd.DataFrame,
    train_y: np.ndarray,
    valid_x: pd.DataFrame,
    valid_y: np.ndarray,
    params: ModelParams,
    categorical: tuple[str, ...] = CATEGORICAL_FEATURES,
    numeric: tuple[str, ...] = NUMERIC_FEATURES,
) -> TrainedModels:
    """Fit the booster and the baseline on train; fit the calibration map on valid."""
    booster = gradient_boosting(params, categorical, numeric).fit(train_x, train_y)
    calibrated = CalibratedClassifierCV(FrozenEstimator(booster), method=params.calibration)
    calibrated.fit(valid_x, valid_y)
    baseline = logistic_baseline().fit(train_x, train_y)
    return TrainedModels(calibrated, baseline)


# Rows per prediction call. The booster walks every tree over the whole block, so a block's
# feature matrix should stay in cache: at Home Credit scale (307k rows, 200 trees, 2 cores)
# 5,000- and 10,000-row blocks predicted 85-98k rows/s, 50,000-row blocks 41-45k and one call
# 34-35k (`make bench`: scale.json, predict_rows_per_s_by_block); at 2,000 the pipeline's
# per-call overhead wins again (64-73k).
PREDICT_BLOCK_ROWS = 5_000


def predict_pd(model: Any, frame: pd.DataFrame, block_rows: int = PREDICT_BLOCK_ROWS) -> np.ndarray:
    """The PD of every row, predicted ``block_rows`` rows at a time (the benchmark varies it)."""
    if len(frame) <= block_rows:
        return np.asarray(model.predict_proba(frame)[:, 1])
    return np.concatenate([
        model.predict_proba(frame.iloc[start : start + block_rows])[:, 1]
        for start in range(0, len(frame), block_rows)
    ])  # fmt: skip
