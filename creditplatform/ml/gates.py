"""Champion–challenger promotion gates as a pure decision with its reasons (docs/architecture.md
§4).

All comparisons use the candidate and the champion scored on the same test set in the same
run. Relative tolerances are inclusive: exactly 10% worse passes, anything more fails (a 1e-12
slack absorbs float rounding of the boundary).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

_SLACK = 1e-12


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

    def as_dict(self) -> dict:
        return {"promote": self.promote, "gates": [asdict(g) for g in self.gates]}


def decide(
    candidate: dict[str, float],
    baseline: dict[str, float],
    champion: dict[str, float] | None,
    tolerance: float,
) -> Decision:
    """Metrics dicts hold roc_auc, brier and ece on the shared test set."""
    auc = candidate["roc_auc"]
    gates = [
        Gate(
            "beats_baseline",
            auc > baseline["roc_auc"],
            auc,
            baseline["roc_auc"],
            baseline["roc_auc"],
            f"ROC-AUC {auc:.4f} {'>' if auc > baseline['roc_auc'] else '<='} "
            f"logistic baseline {baseline['roc_auc']:.4f}",
        )
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
                f"ROC-AUC {auc:.4f} {'>=' if ok else '<'} champion {champion['roc_auc']:.4f}",
            )
        )
        for metric in ("brier", "ece"):
            limit = champion[metric] * (1 + tolerance)
            value = candidate[metric]
            ok = value <= limit + _SLACK
            gates.append(
                Gate(
                    f"{metric}_within_tolerance",
                    ok,
                    value,
                    champion[metric],
                    limit,
                    f"{metric} {value:.5f} {'<=' if ok else '>'} champion {champion[metric]:.5f} "
                    f"x {1 + tolerance:.2f} = {limit:.5f}",
                )
            )
    return Decision(all(g.passed for g in gates), gates)
