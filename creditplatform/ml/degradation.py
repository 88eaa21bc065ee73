"""Sustained degradation: when the champion stays degraded (``degraded_months`` in a row, or
the retrain the performance rule caused did not replace it), look back before giving up.

The champion and every earlier version that still carries its lineage (and the current feature
schema) are scored on the same matured months' outcomes. An earlier version replaces the
champion only with evidence: its paired ROC-AUC difference with the champion on those rows
(DeLong, ``ml/uncertainty.py``) has a lower bound above zero; of those, the highest AUC wins.
The switch goes through the promotion journal as any other (audited ``rolled_back``, trigger
``degradation``, reasons starting "rollback (degradation)"), and the replaced champion is tagged
``archived`` and ``degraded``. Otherwise the champion stays, tagged ``degraded``: there is
always a champion, and the degraded-month alert repeats until a person acts. No Dagster import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from creditplatform.features.catalog import FEATURE_SCHEMA_VERSION
from creditplatform.features.store import STORE, Connect
from creditplatform.ml.model import predict_pd
from creditplatform.ml.promotion import Attempt, execute, new_attempt_id, reconcile_promotions
from creditplatform.ml.registry import Registry, load_verified, missing_lineage
from creditplatform.ml.uncertainty import PairedDifference, paired_auc_difference
from creditplatform.warehouse.audit import AuditRecord

TRIGGER = "degradation"


@dataclass(frozen=True)
class Comparison:
    version: int
    auc: float
    vs_champion: PairedDifference

    @property
    def better_with_evidence(self) -> bool:
        return self.vs_champion.lo > 0


def choose(
    champion: int, y: np.ndarray, scores: dict[int, np.ndarray], confidence: float
) -> tuple[int | None, list[Comparison]]:
    """The earlier version to make champion (None: none is better with evidence) and every
    comparison made. ``scores`` holds the champion's PDs and each earlier version's, same rows."""
    found = [
        Comparison(
            version,
            float(roc_auc_score(y, p)),
            paired_auc_difference(y, p, scores[champion], confidence),
        )
        for version, p in scores.items()
        if version != champion
    ]
    better = [c for c in found if c.better_with_evidence]
    best = max(better, key=lambda c: (c.auc, c.version), default=None)
    return (best.version if best else None), found


@dataclass
class Review:
    champion_before: int
    champion_after: int
    months: list[str]
    rows: int
    champion_auc: float
    comparisons: list[Comparison] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)  # version -> why not compared

    @property
    def rolled_back(self) -> bool:
        return self.champion_after != self.champion_before

    def lines(self) -> list[str]:
        out = [
            f"v{c.version}: AUC {c.auc:.4f}, paired difference with champion "
            f"v{self.champion_before} {c.vs_champion.difference:+.4f} "
            f"[{c.vs_champion.lo:+.4f}, {c.vs_champion.hi:+.4f}], p = {c.vs_champion.p_value:.3g}"
            f" ({'better with evidence' if c.better_with_evidence else 'not better with evidence'})"
            for c in self.comparisons
        ]
        return out + [f"v{v}: not compared ({why})" for v, why in self.skipped.items()]

    def as_dict(self) -> dict[str, Any]:
        return {
            "champion_before": self.champion_before, "champion_after": self.champion_after,
            "months": self.months, "rows": self.rows, "champion_auc": self.champion_auc,
            "comparisons": self.lines(),
        }  # fmt: skip


def _earlier_versions(registry: Registry, champion: int) -> tuple[list[Any], dict[int, str]]:
    usable, skipped = [], {}
    for number in range(1, champion):
        version = registry.version(number)
        missing = missing_lineage(registry, version)
        schema = version.tags.get("feature_schema_version")
        if missing:
            skipped[number] = f"lacks lineage tag(s) {', '.join(missing)}"
        elif schema != str(FEATURE_SCHEMA_VERSION):
            skipped[number] = f"feature schema {schema}, the store is {FEATURE_SCHEMA_VERSION}"
        else:
            usable.append(version)
    return usable, skipped


def review_champion(
    connect: Connect, registry: Registry, months: list[str], confidence: float, attempt: Attempt
) -> Review:
    """Score the champion and its predecessors on ``months`` and act (see the module doc)."""
    champion = registry.champion()
    if champion is None:
        raise ValueError("no champion to review")
    number = int(champion.version)
    marks = ", ".join("?" * len(months))
    with connect() as con:
        rows = con.execute(
            f"SELECT * FROM {STORE} WHERE month IN ({marks}) AND TARGET IS NOT NULL", months
        ).df()
    y = rows["TARGET"].to_numpy(int)
    earlier, skipped = _earlier_versions(registry, number)
    scores = {int(v.version): predict_pd(load_verified(registry, v), rows) for v in earlier}
    scores[number] = predict_pd(load_verified(registry, champion), rows)
    chosen, comparisons = choose(number, y, scores, confidence)
    review = Review(number, chosen or number, months, len(rows),
                    float(roc_auc_score(y, scores[number])), comparisons, skipped)  # fmt: skip
    client = registry.client()
    client.set_model_version_tag(registry.model_name, str(number), "degraded", ",".join(months))
    if chosen is None:
        return review
    with registry.champion_change(), connect() as con:
        reconcile_promotions(registry, con, attempt.run_id, attempt.warn)
        target = registry.version(chosen)
        record = AuditRecord(
            decided_at=attempt.decided_at, version=chosen, decision="rolled_back",
            trigger=TRIGGER,
            reasons=[f"rollback (degradation): champion v{number} degraded on "
                     f"{', '.join(months)} ({len(rows)} rows, AUC {review.champion_auc:.4f}); "
                     f"v{chosen} is better with evidence", *review.lines()],
            gates={"degradation_review": review.as_dict()}, dagster_run_id=attempt.run_id,
            data_sha256=target.tags.get("data_sha256", ""), previous_champion=number,
            champion_after=chosen, attempt_id=new_attempt_id(),
        )  # fmt: skip
        execute(registry, con, record)
    return review
