"""A model version's MLflow signature and input example, made from the contract, not from rows.

MLflow infers both from the frame it is given; given applicants' rows, three of them were saved
as ``input_example.json`` inside every version, readable by anyone with registry access, and the
signature's ``required`` flags said which columns happened to have no missing value that month.
Here the signature comes from the feature catalog (every column optional: a missing value is a
value the model scores) and the example is the reference applicant (``ml.reason_codes``): the
median of each numeric feature and the most frequent level of each category, a combination of
per-column summaries that is nobody.
"""

from __future__ import annotations

import pandas as pd
from mlflow.models import ModelSignature, infer_signature
from mlflow.types.schema import ColSpec, Schema, TensorSpec

from creditplatform.features.catalog import CATEGORICAL_FEATURES, NUMERIC_FEATURES


def reference_example(reference: dict[str, float | str | None]) -> pd.DataFrame:
    """The reference applicant as one row in the feature store's dtypes (object categories,
    float64 numbers; a column without a reference value is missing)."""
    row = {c: [reference.get(c)] for c in CATEGORICAL_FEATURES}
    frame = pd.DataFrame(row, dtype=object)
    numbers = pd.DataFrame(
        {c: [reference.get(c)] for c in NUMERIC_FEATURES}, dtype="float64"
    )  # None becomes NaN
    return pd.concat([frame, numbers], axis=1)


def feature_signature(example: pd.DataFrame, pds: object) -> ModelSignature:
    """Inputs from the catalog (strings and doubles, none required); the output (the PD) as
    MLflow infers it from ``pds``, the model's answer on ``example``."""
    columns: list[ColSpec | TensorSpec] = [
        ColSpec("string", c, required=False) for c in CATEGORICAL_FEATURES
    ]
    columns += [ColSpec("double", c, required=False) for c in NUMERIC_FEATURES]
    inputs = Schema(columns)
    return ModelSignature(inputs=inputs, outputs=infer_signature(example, pds).outputs)
