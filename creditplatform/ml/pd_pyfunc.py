"""The registered model's MLflow code: ``predict`` returns the probability of default.

MLflow copies this file into every registered version ("models from code") and runs it when
any client calls ``mlflow.pyfunc.load_model``; it is never imported by the platform. A plain
client therefore gets the PD, ``P(TARGET = 1)`` as float64, one per row, from feature-store rows
as they are stored, which is exactly the second column of the scikit-learn pipeline's
``predict_proba`` and what ``scores.batch_scores`` holds. (The sklearn flavour's own pyfunc
``predict`` would return 0/1 labels at a 0.5 cut, a decision no lender takes from a PD.)

The fitted pipeline is a nested MLflow sklearn model (artifact ``pipeline``, skops format, safe
load); unwrap it with ``load_model(uri).unwrap_python_model().pipeline`` for ``predict_proba``.
Loading needs the ``creditplatform`` package importable: the pipeline's first step is its
``to_model_frame`` function.
"""

from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel, PythonModelContext


class ProbabilityOfDefault(PythonModel):
    def load_context(self, context: PythonModelContext) -> None:
        self.pipeline = mlflow.sklearn.load_model(context.artifacts["pipeline"])

    def predict(
        self, context: PythonModelContext, model_input: pd.DataFrame, params: Any = None
    ) -> np.ndarray:
        return np.asarray(self.pipeline.predict_proba(model_input)[:, 1], dtype=np.float64)


mlflow.models.set_model(ProbabilityOfDefault())
