"""Reason codes: which features push one applicant's PD up most, and by how much.

Method (one-feature counterfactual to a reference applicant): for every feature where the
applicant differs from the champion's *reference applicant* — the median of each numeric
feature and the most frequent level of each category over the champion's training rows — the
model scores the applicant again with that one feature set to the reference value. The reason's
``contribution`` is how much lower the model's score is then: the drop in log-odds of the
boosted model *before* calibration. The PD is a monotone function of that score, so a feature
with a positive contribution raises (or, on a flat step of the isotonic map, holds) the PD; on
the calibrated PD itself most one-feature changes fall on the same isotonic step and would
show no effect at all. The reasons are the features with the largest positive contributions
("with a typical EXT_SOURCE_2 the score would be 0.9 lower"). A missing value is a value here:
an applicant with no external score is compared to one with the typical score.

Why this rather than SHAP: it needs only the model's own scoring functions (no extra library,
exact for any pipeline), it answers the question an adverse-action notice asks, and all the
counterfactual rows of a request are scored in one call. Contributions do not add up to the
score (interactions are not split), which the API documents.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from creditplatform.features.catalog import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from creditplatform.ml.model import MISSING_LEVEL, to_model_frame


@dataclass(frozen=True)
class Reason:
    feature: str
    value: float | str | None
    reference: float | str | None
    contribution: float

    def as_dict(self) -> dict:
        return asdict(self)


def reference_values(train: pd.DataFrame) -> dict[str, float | str | None]:
    """The reference applicant: numeric medians and most frequent levels of the training rows.

    Ties between levels go to the alphabetically first, so the reference is reproducible.
    """
    reference: dict[str, float | str | None] = {}
    for column in NUMERIC_FEATURES:
        values = pd.to_numeric(train[column], errors="coerce").dropna()
        reference[column] = float(values.median()) if len(values) else None
    for column in CATEGORICAL_FEATURES:
        counts = train[column].dropna().astype(str).value_counts()
        if counts.empty:
            reference[column] = None
            continue
        top = counts[counts == counts.max()].index
        reference[column] = str(sorted(top)[0])
    return reference


def _plain(value: object) -> float | str | None:
    if value is None or value == MISSING_LEVEL or (isinstance(value, float) and np.isnan(value)):
        return None
    return value if isinstance(value, str) else float(value)


def _margin(model):
    """The model's score before calibration (log-odds): the calibrated classifier's fitted
    base estimator, or the model itself when it is not calibrated."""
    calibrated = getattr(model, "calibrated_classifiers_", None)
    return (calibrated[0].estimator if calibrated else model).decision_function


def score_with_reasons(
    model, features: pd.DataFrame, reference: dict[str, float | str | None], top: int
) -> tuple[np.ndarray, list[list[Reason]]]:
    """PD of each row of ``features`` and its ``top`` reasons.

    The PDs are the model's ``predict_proba`` on the rows as given (the same values a batch run
    gives for the same rows: every row is scored independently). With ``top`` = 0 no
    counterfactual is built. The counterfactual rows (one per feature an applicant differs in,
    about a hundred for one applicant) are built as NumPy blocks and scored in one call.
    """
    rows = to_model_frame(features.reset_index(drop=True))
    if top <= 0 or not reference:
        return model.predict_proba(rows)[:, 1], [[] for _ in range(len(rows))]
    numbers = rows[list(NUMERIC_FEATURES)].to_numpy(dtype="float64")
    categories = rows[list(CATEGORICAL_FEATURES)].to_numpy(dtype=object)
    typical_numbers = np.array(
        [np.nan if reference.get(c) is None else reference[c] for c in NUMERIC_FEATURES]
    )
    typical_categories = np.array(
        [reference.get(c) or MISSING_LEVEL for c in CATEGORICAL_FEATURES], dtype=object
    )
    # (row, block, column) of every feature where an applicant differs from the reference.
    differ_n = ~((numbers == typical_numbers) | (np.isnan(numbers) & np.isnan(typical_numbers)))
    differ_c = categories != typical_categories
    rows_n, cols_n = np.nonzero(differ_n)
    rows_c, cols_c = np.nonzero(differ_c)
    at = np.concatenate([rows_c, rows_n])
    variant_n, variant_c = numbers[at], categories[at]
    k = len(rows_c)
    variant_c[np.arange(k), cols_c] = typical_categories[cols_c]
    variant_n[np.arange(k, len(at)), cols_n] = typical_numbers[cols_n]
    frame = pd.DataFrame(
        {
            **dict(zip(CATEGORICAL_FEATURES, np.vstack([categories, variant_c]).T, strict=True)),
            **dict(zip(NUMERIC_FEATURES, np.vstack([numbers, variant_n]).T, strict=True)),
        }
    )
    pd_values = model.predict_proba(rows)[:, 1]
    margins = _margin(model)(frame)
    drops = margins[: len(rows)][at] - margins[len(rows) :]
    names = np.array(
        [CATEGORICAL_FEATURES[c] for c in cols_c] + [NUMERIC_FEATURES[c] for c in cols_n]
    )
    values = np.concatenate([categories[rows_c, cols_c], numbers[rows_n, cols_n]])
    # The largest drops first within each applicant (ties by feature name), positive only.
    order = np.lexsort((names, -drops, at))
    order = order[drops[order] > 0]
    reasons: list[list[Reason]] = [[] for _ in range(len(rows))]
    for position in order:
        found = reasons[int(at[position])]
        if len(found) < top:
            name = str(names[position])
            found.append(
                Reason(name, _plain(values[position]), reference.get(name), float(drops[position]))
            )
    return pd_values, reasons
