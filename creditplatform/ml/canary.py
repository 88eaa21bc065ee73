"""The canary: how differently the challenger would treat the same applicants as the champion.

Gates judge a candidate on held-out rows of the past; the canary judges what promoting it would
change for the applicants arriving now. Both models' PDs for the same applicants (the
challenger's shadow scores beside the champion's batch scores) give four figures, each held
against a limit from ``Settings``:

- approval-rate delta at the policy threshold (challenger − champion; PD below the threshold
  is approved), with its paired 95% interval;
- mean-PD delta (challenger − champion), paired interval;
- PSI between the two PD distributions over PD grades (``PD_GRADES``, a master scale, each PD
  shared between its two neighbouring grades; a point estimate: PSI has no closed-form
  interval, and with ≥ 1,000 applicants its sampling noise is ~0.01 against a 0.10 limit);
- the share of applicants whose decision flips, with its Wilson interval.

Why the intervals decide, not the point estimates: promotion changes who gets a loan, so the
canary passes only when the evidence shows each change is within its limit — the far end of
each interval inside the limit (an equivalence test). A shift the sample cannot tell apart from
"too large" holds the challenger for a person to approve. No Dagster import.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from math import sqrt
from typing import Any, Protocol

import numpy as np

from creditplatform.ml.drift import psi_from_shares
from creditplatform.ml.uncertainty import z_two_sided

# The PD grades the canary's PSI compares: a master scale of seven grades whose PDs roughly
# double from one to the next (grade centres). PSI is only defined against a scale, and it
# grows with the number of grades: for the same four pairs of models in make run it was
# 0.18-0.31 on twelve grades and 0.07-0.15 on these seven, so the scale is part of the rule.
# Calibrated PDs are isotonic steps: hard bins (the champion's deciles, or grade edges) put
# whole steps on one side of an edge or the other, so a step that moves by a hair between two
# models moves a tenth of the applicants (decile PSI 1.3-2.2 for those pairs). Each PD is
# therefore shared between its two neighbouring grade centres, linearly in log PD (PDs beyond
# the ends go to the end grades): PSI moves continuously with the PDs, and a move from one grade
# to the next is measured in full.
PD_GRADES = (0.01, 0.02, 0.05, 0.10, 0.20, 0.40, 0.80)


class CanarySettings(Protocol):
    """The canary's fields as ``Settings`` and the ``RolloutPolicy`` resource both name them."""

    @property
    def canary_min_applicants(self) -> int: ...
    @property
    def canary_max_approval_rate_delta(self) -> float: ...
    @property
    def canary_max_mean_pd_delta(self) -> float: ...
    @property
    def canary_max_psi(self) -> float: ...
    @property
    def canary_max_flip_share(self) -> float: ...
    @property
    def evidence_confidence(self) -> float: ...
    @property
    def policy_threshold(self) -> float: ...


@dataclass(frozen=True)
class CanaryLimits:
    min_applicants: int
    max_approval_rate_delta: float
    max_mean_pd_delta: float
    max_psi: float
    max_flip_share: float
    confidence: float
    policy_threshold: float

    @classmethod
    def of(cls, source: CanarySettings) -> CanaryLimits:
        """From ``Settings`` or the ``RolloutPolicy`` resource (the same field names)."""
        return cls(
            source.canary_min_applicants, source.canary_max_approval_rate_delta,
            source.canary_max_mean_pd_delta, source.canary_max_psi, source.canary_max_flip_share,
            source.evidence_confidence, source.policy_threshold,
        )  # fmt: skip


@dataclass(frozen=True)
class Figure:
    """One canary figure: the estimate, the interval it is judged by, its limit, the verdict."""

    name: str
    value: float
    lo: float
    hi: float
    limit: float
    within: bool

    def text(self) -> str:
        verdict = "within" if self.within else "OUTSIDE"
        return (f"{self.name} {self.value:+.4f} [{self.lo:+.4f}, {self.hi:+.4f}] "
                f"{verdict} limit {self.limit:g}")  # fmt: skip


@dataclass(frozen=True)
class CanaryResult:
    champion_version: int
    challenger_version: int
    applicants: int
    months: list[str]
    champion_approval_rate: float
    challenger_approval_rate: float
    figures: list[Figure]
    enough: bool  # enough applicants to decide at all

    @property
    def passed(self) -> bool:
        return self.enough and all(f.within for f in self.figures)

    @property
    def verdict(self) -> str:
        """``waiting`` (too few applicants yet), ``passed`` or ``held``."""
        if not self.enough:
            return "waiting"
        return "passed" if self.passed else "held"

    def reasons(self) -> list[str]:
        if not self.enough:
            return [f"canary waiting: {self.applicants} applicants shadow-scored on the same "
                    "rows as the champion, fewer than the minimum and no whole month"]  # fmt: skip
        head = "canary passed" if self.passed else "canary held"
        return [f"{head}: v{self.challenger_version} vs champion v{self.champion_version} on "
                f"{self.applicants} applicants ({', '.join(self.months)})",
                *(f.text() for f in self.figures)]  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["verdict"] = self.verdict
        out["figures"] = {f.name: asdict(f) for f in self.figures}
        return out


def _paired_mean(differences: np.ndarray, z: float) -> tuple[float, float, float]:
    mean = float(differences.mean())
    se = float(differences.std(ddof=1) / sqrt(len(differences))) if len(differences) > 1 else 0.0
    return mean, mean - z * se, mean + z * se


def _wilson(successes: int, n: int, z: float) -> tuple[float, float]:
    share = successes / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    lo = 0.0 if successes == 0 else max(0.0, centre - half)  # exact 0, not rounding noise
    return lo, min(1.0, centre + half)


def grade_shares(pds: np.ndarray) -> np.ndarray:
    """Each grade's share of ``pds``, every PD split between its two neighbouring grades."""
    centres = np.log(np.asarray(PD_GRADES))
    logs = np.log(np.clip(pds, PD_GRADES[0], PD_GRADES[-1]))
    lower = np.clip(np.searchsorted(centres, logs, side="right") - 1, 0, len(centres) - 2)
    upper_weight = (logs - centres[lower]) / (centres[lower + 1] - centres[lower])
    shares = np.zeros(len(centres))
    np.add.at(shares, lower, 1.0 - upper_weight)
    np.add.at(shares, lower + 1, upper_weight)
    return shares / len(pds)


def grade_psi(champion_pd: np.ndarray, challenger_pd: np.ndarray) -> float:
    """PSI of the challenger's PD-grade shares against the champion's."""
    return psi_from_shares(grade_shares(champion_pd), grade_shares(challenger_pd))


def _symmetric(name: str, value: float, lo: float, hi: float, limit: float) -> Figure:
    """A signed delta is within its limit when its whole interval lies in [−limit, limit]."""
    return Figure(name, value, lo, hi, limit, max(abs(lo), abs(hi)) <= limit)


def compare(
    champion_pd: np.ndarray,
    challenger_pd: np.ndarray,
    limits: CanaryLimits,
    versions: tuple[int, int],
    months: list[str],
    whole_month: bool,
) -> CanaryResult:
    """The canary on paired PDs (row i is one applicant under both models).

    ``whole_month``: a whole month has been shadow-scored, which counts as enough evidence even
    below ``min_applicants`` (a small lender's month is all there is).
    """
    a = np.asarray(champion_pd, dtype=float)
    b = np.asarray(challenger_pd, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"canary needs paired PDs: {a.shape} champion vs {b.shape} challenger")
    n = len(a)
    champion_version, challenger_version = versions
    enough = n >= 2 and (n >= limits.min_applicants or whole_month)
    if n < 2:
        return CanaryResult(champion_version, challenger_version, n, months,
                            float("nan"), float("nan"), [], False)  # fmt: skip
    z = z_two_sided(limits.confidence)
    approved_a = a < limits.policy_threshold
    approved_b = b < limits.policy_threshold
    approval = _paired_mean(approved_b.astype(float) - approved_a.astype(float), z)
    mean_pd = _paired_mean(b - a, z)
    flips = int((approved_a != approved_b).sum())
    flip_lo, flip_hi = _wilson(flips, n, z)
    psi = grade_psi(a, b)
    figures = [
        _symmetric("approval_rate_delta", *approval, limits.max_approval_rate_delta),
        _symmetric("mean_pd_delta", *mean_pd, limits.max_mean_pd_delta),
        Figure("psi", psi, psi, psi, limits.max_psi, psi <= limits.max_psi),
        Figure("flip_share", flips / n, flip_lo, flip_hi, limits.max_flip_share,
               flip_hi <= limits.max_flip_share),
    ]  # fmt: skip
    return CanaryResult(
        champion_version, challenger_version, n, months,
        float(approved_a.mean()), float(approved_b.mean()), figures, enough,
    )  # fmt: skip


def canary_plot(
    champion_pd: np.ndarray, challenger_pd: np.ndarray, result: CanaryResult, threshold: float
) -> bytes:
    """The two PD distributions on the same applicants, the policy threshold marked."""
    from creditplatform.ml.figures import pd_bins, plt, png

    fig, ax = plt.subplots(figsize=(6, 3.2))
    bins = pd_bins(np.r_[champion_pd, challenger_pd])
    ax.hist(champion_pd, bins=bins, density=True, alpha=0.55,
            label=f"champion v{result.champion_version}")  # fmt: skip
    ax.hist(challenger_pd, bins=bins, density=True, alpha=0.55,
            label=f"challenger v{result.challenger_version} (shadow)")  # fmt: skip
    ax.axvline(threshold, color="black", linestyle="--", linewidth=1,
               label=f"policy threshold {threshold:g}")  # fmt: skip
    ax.set(xlabel="predicted PD", ylabel="density",
           title=f"Same {result.applicants:,} applicants, canary {result.verdict}")  # fmt: skip
    ax.legend(fontsize=8)
    return png(fig)
