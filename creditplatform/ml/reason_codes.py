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
from typing import Any

import numpy as np
import pandas as pd

from creditplatform.features.catalog import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from creditplatform.ml.compiled_model import CompiledModel
from creditplatform.ml.model import MISSING_LEVEL


@dataclass(frozen=True)
class Reason:
    feature: str
    value: float | str | None
    reference: float | str | None
    contribution: float

    def as_dict(self) -> dict[str, Any]:
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


def _plain(value: Any) -> float | str | None:
    if value is None or value == MISSING_LEVEL or (isinstance(value, float) and np.isnan(value)):
        return None
    return value if isinstance(value, str) else float(value)


def score_with_reasons(
    model: CompiledModel,
    features: pd.DataFrame,
    reference: dict[str, float | str | None],
    top: int,
) -> tuple[np.ndarray, list[list[Reason]]]:
    """PD of each row of ``features`` and its ``top`` reasons.

    ``model`` is the champion compiled and verified equal to its pipeline
    (``compiled_model.verified``), so the PDs are the pipeline's ``predict_proba`` on the rows
    as given, bit for bit (every row is scored independently). With ``top`` = 0 no
    counterfactual is built. The counterfactual rows (one per feature an applicant differs in,
    about a hundred for one applicant) are copies of the applicant's encoded row with one
    column set to the reference's code, scored in one call.
    """
    levels, numbers = model.split(features)
    encoded = model.encode(levels, numbers)
    margins = model.margin(encoded)
    pd_values = model.pd_of_margin(margins)
    if top <= 0 or not reference:
        return pd_values, [[] for _ in range(len(features))]
    typical_numbers = np.array(
        [np.nan if reference.get(c) is None else reference[c] for c in model.numeric],
        dtype=np.float64,
    )
    typical_levels = np.array(
        [reference.get(c) or MISSING_LEVEL for c in model.categorical], dtype=object
    )
    typical = model.encode(typical_levels[None, :], typical_numbers[None, :])[0]
    # (row, column) of every feature where an applicant differs from the reference.
    differ_n = ~((numbers == typical_numbers) | (np.isnan(numbers) & np.isnan(typical_numbers)))
    rows_c, cols_c = np.nonzero(levels != typical_levels)
    rows_n, cols_n = np.nonzero(differ_n)
    at = np.concatenate([rows_c, rows_n])
    columns = np.concatenate([cols_c, cols_n + len(model.categorical)])
    variants = encoded[at]
    variants[np.arange(len(at)), columns] = typical[columns]
    drops = margins[at] - model.margin(variants)
    names = np.array([*model.categorical, *model.numeric])[columns]
    values = np.concatenate([levels[rows_c, cols_c], numbers[rows_n, cols_n]])
    # The largest drops first within each applicant (ties by feature name), positive only.
    order = np.lexsort((names, -drops, at))
    order = order[drops[order] > 0]
    reasons: list[list[Reason]] = [[] for _ in range(len(features))]
    for position in order:
        found = reasons[int(at[position])]
        if len(found) < top:
            name = str(names[position])
            found.append(
                Reason(name, _plain(values[position]), reference.get(name), float(drops[position]))
            )
    return pd_values, reasons
