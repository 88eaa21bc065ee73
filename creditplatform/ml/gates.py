"""Champion–challenger promotion gates as a pure decision with its reasons (docs/architecture.md
§4).

All comparisons use the candidate and the champion scored on the same test set in the same
run. Relative tolerances are inclusive: exactly 10% worse passes, anything more fails (a 1e-12
slack absorbs float rounding of the boundary).

No gate decides on too little evidence: ``min_defaults`` fails when the test or the out-of-time
set holds fewer than ``GatePolicy.min_defaults`` defaults or non-defaults (an AUC from three
defaults says nothing), and it applies to the first champion too. The point-estimate gates are
the seed's; each reason carries the intervals beside the numbers it compares (DeLong for
ROC-AUC, paired on the same rows; bootstrap for Brier and ECE: ``ml/uncertainty.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

_SLACK = 1e-12


@dataclass(frozen=True)
class GatePolicy:
    """Brier/ECE may be this much worse than the champion (relative); every decision needs this
    many defaults and non-defaults in the test and the out-of-time set."""

    relative_tolerance: float
    min_defaults: int


@dataclass(frozen=True)
class Gate:
    name: str
    passed: bool
    candidate: float
    reference: float | None
    limit: float | None
    reason: str


@dataclass(frozen=True)
class Decision:
    promote: bool
    gates: list[Gate] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        return [g.reason for g in self.gates]

    def as_dict(self) -> dict[str, Any]:
        return {"promote": self.promote, "gates": [asdict(g) for g in self.gates]}


def _ci(metrics: dict[str, Any], name: str) -> str:
    ci = metrics.get(f"{name}_ci")
    return "" if not ci else f" [{ci[0]:.4f}, {ci[1]:.4f}]"


def _paired(comparison: dict[str, Any] | None) -> str:
    """The DeLong paired difference on the same rows, as a reason's tail."""
    if not comparison or "difference" not in comparison:
        return ""
    lo, hi = comparison["ci"]
    return (f"; paired difference {comparison['difference']:+.4f} [{lo:+.4f}, {hi:+.4f}], "
            f"p = {comparison['p_value']:.3g} (DeLong)")  # fmt: skip


def evidence_gate(counts: dict[str, tuple[int, int]], min_defaults: int) -> Gate:
    """Enough defaults and non-defaults in every set the decision reads (set → counts)."""
    short = [
        f"{n} {kind} in {set_name} (needs {min_defaults})"
        for set_name, (defaults, others) in counts.items()
        for kind, n in (("defaults", defaults), ("non-defaults", others))
        if n < min_defaults
    ]
    fewest = min(min(pair) for pair in counts.values())
    held = ", ".join(f"{d} defaults / {o} non-defaults in {s}" for s, (d, o) in counts.items())
    reason = (
        "insufficient evidence: " + "; ".join(short)
        if short
        else f"evidence: {held} (needs >= {min_defaults} of each)"
    )
    return Gate("min_defaults", not short, float(fewest), None, float(min_defaults), reason)


def decide(
    candidate: dict[str, float],
    baseline: dict[str, float],
    champion: dict[str, float] | None,
    policy: GatePolicy,
    counts: dict[str, tuple[int, int]],
    comparisons: dict[str, Any] | None = None,
) -> Decision:
    """Metrics dicts hold roc_auc, brier and ece (and their ``*_ci``) on the shared test set;
    ``counts`` the defaults and non-defaults of each set; ``comparisons`` the test set's paired
    differences (``candidate_vs_baseline``, ``candidate_vs_champion``)."""
    comparisons = comparisons or {}
    auc = candidate["roc_auc"]
    beats = auc > baseline["roc_auc"]
    gates = [
        evidence_gate(counts, policy.min_defaults),
        Gate(
            "beats_baseline",
            beats,
            auc,
            baseline["roc_auc"],
            baseline["roc_auc"],
            f"ROC-AUC {auc:.4f}{_ci(candidate, 'roc_auc')} {'>' if beats else '<='} "
            f"logistic baseline {baseline['roc_auc']:.4f}{_ci(baseline, 'roc_auc')}"
            + _paired(comparisons.get("candidate_vs_baseline")),
        ),
    ]
    if champion is None:
        gates.append(
            Gate("no_champion", True, auc, None, None, "no champion yet: baseline gate decides")
        )
    else:
        ok = auc >= champion["roc_auc"] - _SLACK
        gates.append(
            Gate(
                "auc_not_below_champion",
                ok,
                auc,
                champion["roc_auc"],
                champion["roc_auc"],
                f"ROC-AUC {auc:.4f}{_ci(candidate, 'roc_auc')} {'>=' if ok else '<'} champion "
                f"{champion['roc_auc']:.4f}{_ci(champion, 'roc_auc')}"
                + _paired(comparisons.get("candidate_vs_champion")),
            )
        )
        for metric in ("brier", "ece"):
            limit = champion[metric] * (1 + policy.relative_tolerance)
            value = candidate[metric]
            ok = value <= limit + _SLACK
            gates.append(
                Gate(
                    f"{metric}_within_tolerance",
                    ok,
                    value,
                    champion[metric],
                    limit,
                    f"{metric} {value:.5f}{_ci(candidate, metric)} {'<=' if ok else '>'} "
                    f"champion {champion[metric]:.5f}{_ci(champion, metric)} "
                    f"x {1 + policy.relative_tolerance:.2f} = {limit:.5f}",
                )
            )
    return Decision(all(g.passed for g in gates), gates)
