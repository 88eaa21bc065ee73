"""Score applicants with the current champion: features by the store's SQL, PD, reason codes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from creditplatform.ml.reason_codes import Reason, score_with_reasons
from creditplatform.serving.applicants import OnlineFeatures
from creditplatform.serving.champion import ChampionHolder, ServedModel


class NotReady(LookupError):
    """No verified champion is loaded (yet)."""


@dataclass(frozen=True)
class Scored:
    """Applicants scored by one model version, in request order."""

    model: ServedModel
    features: pd.DataFrame
    pds: np.ndarray
    reasons: list[list[Reason]]

    def part(self, index: int, reasons: bool) -> Scored:
        """The ``index``-th applicant alone (its reasons dropped unless asked for)."""
        return Scored(
            self.model, self.features.iloc[[index]].reset_index(drop=True),
            self.pds[index : index + 1], [self.reasons[index] if reasons else []],
        )  # fmt: skip


class Scorer:
    """Scores a list of applicants in one pass; ``observe(stage, seconds)`` (if given) hears how
    long each stage of every successful pass took (convert, contracts, features, model)."""

    def __init__(
        self,
        holder: ChampionHolder,
        reason_codes: int,
        observe: Callable[[str, float], None] | None = None,
    ) -> None:
        self.holder = holder
        self.reason_codes = reason_codes
        self.observe = observe
        self.features = OnlineFeatures()

    def score(self, applicants: list, batch: bool, reasons: bool) -> Scored:
        """Raises ``Rejected`` (a contract broken) or ``NotReady``; nothing is scored then."""
        model = self.holder.current  # this call's one model version, whatever reloads do
        if model is None:
            raise NotReady(self.holder.last_error or "no champion loaded yet")
        seconds: dict[str, float] = {}
        frame = self.features.compute(applicants, batch=batch, seconds=seconds)
        started = time.perf_counter()
        top = self.reason_codes if reasons and model.reason_reference else 0
        pds, found = score_with_reasons(model.model, frame, model.reason_reference or {}, top)
        seconds["model"] = time.perf_counter() - started
        if self.observe:
            for stage, spent in seconds.items():
                self.observe(stage, spent)
        return Scored(model, frame, pds, found)
