"""Named drift scenarios: what changes, in which columns, from which month.

Each scenario changes only the columns its ground truth names (or, for concept shift, only the
labels); the generator draws the same random numbers in every scenario, so everything else is
identical row for row, which is what lets a test prove a drift detector flags the right columns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

BASE_REVOLVING_SHARE = 0.1015


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    shifted_columns: dict[str, list[str]] = field(default_factory=dict)
    label_shift: bool = False
    revolving_share: float | None = None
    logit_shift: float = 0.0
    multipliers: dict[str, float] = field(default_factory=dict)

    def apply(self, application: pd.DataFrame) -> pd.DataFrame:
        """Covariate shift applied to a drifted month's application table."""
        for column, factor in self.multipliers.items():
            values = application[column].to_numpy(dtype=float) * factor
            application[column] = np.round(values * 2) / 2
        return application

    def ground_truth(self, drift_from: str | None) -> dict:
        truth = asdict(self)
        truth["drift_from"] = drift_from
        return truth


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("none", "No drift: every month is drawn from the same population."),
        Scenario(
            "income_shift",
            "Covariate shift: declared incomes rise 60% and loan amounts 35% (e.g. a new "
            "income-verification rule and inflation); the default mechanism is unchanged.",
            shifted_columns={"application": ["AMT_INCOME_TOTAL", "AMT_CREDIT"]},
            multipliers={"AMT_INCOME_TOTAL": 1.6, "AMT_CREDIT": 1.35},
        ),
        Scenario(
            "product_mix",
            "Category mix change: revolving loans grow from 10% to 35% of applications.",
            shifted_columns={"application": ["NAME_CONTRACT_TYPE"]},
            revolving_share=0.35,
        ),
        Scenario(
            "default_rate_shift",
            "Concept shift: the same applicants default more often (log-odds +0.75); no "
            "feature distribution changes.",
            label_shift=True,
            logit_shift=0.75,
        ),
    )
}
