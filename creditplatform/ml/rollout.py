"""Staged rollout: a challenger's shadow scores, the canary that decides on them, and a person's
rejection.

The stages (docs/architecture.md §4): a candidate that passes its gates while a champion exists
becomes ``challenger`` (``promotion.promote_candidate``); ``batch_scores`` then also scores every
month with it into ``scores.shadow_scores``, and ``creditplatform serve`` scores every request
with it off the response path; once it has shadow-scored enough of the applicants the champion
scored (``ml/canary.py``), the canary promotes it through the promotion journal or holds it for
a person (``creditplatform promote --version N`` approves, ``--reject N`` drops it). No Dagster
import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from creditplatform.ml.canary import CanaryLimits, CanaryResult, compare
from creditplatform.ml.promotion import (
    Attempt,
    Refused,
    alias_version,
    current_challenger,
    execute,
    new_attempt_id,
    reconcile_promotions,
)
from creditplatform.ml.registry import CHAMPION, Registry
from creditplatform.sql import scalar
from creditplatform.warehouse.audit import AuditRecord, decided
from creditplatform.warehouse.ingest import warehouse_tables
from creditplatform.warehouse.month_data import SCORES, SHADOW_SCORES


def shadow_pairs(
    con: duckdb.DuckDBPyConnection, champion: int, challenger: int
) -> tuple[pd.DataFrame, bool]:
    """Both models' PDs for every applicant scored by both (month, SK_ID_CURR, champion_pd,
    challenger_pd), and whether a whole month of the champion's scores is paired (none while
    no month has been scored yet)."""
    if not {SCORES, SHADOW_SCORES} <= warehouse_tables(con):
        empty = pd.DataFrame({"month": [], "SK_ID_CURR": [], "champion_pd": [],
                              "challenger_pd": []})  # fmt: skip
        return empty, False
    pairs = con.execute(
        f"SELECT s.month, s.SK_ID_CURR, b.pd AS champion_pd, s.pd AS challenger_pd "
        f"FROM {SHADOW_SCORES} s JOIN {SCORES} b USING (month, SK_ID_CURR) "
        "WHERE s.model_version = ? AND b.model_version = ? ORDER BY s.month, s.SK_ID_CURR",
        [challenger, champion],
    ).df()
    whole = scalar(
        con.execute(
            f"SELECT count(*) FROM (SELECT month, count(*) AS n FROM {SCORES} "
            "WHERE model_version = ? GROUP BY month) b JOIN (SELECT month, count(*) AS n FROM "
            f"{SHADOW_SCORES} WHERE model_version = ? GROUP BY month) s USING (month) "
            "WHERE s.n >= b.n",
            [champion, challenger],
        )
    )
    return pairs, whole > 0


@dataclass(frozen=True)
class RolloutOutcome:
    """What the canary did: ``no_challenger``, ``waiting`` (too little shadow evidence),
    ``promoted``, ``held`` (audited and alerted now) or ``still_held`` (held before: no new
    row, no new alert)."""

    status: str
    result: CanaryResult | None = None
    record: AuditRecord | None = None
    pairs: pd.DataFrame | None = None

    def alert(self) -> dict[str, Any] | None:
        """The alert a newly held challenger sends (its figures; how to approve or reject)."""
        if self.status != "held" or self.result is None:
            return None
        version = self.result.challenger_version
        return {
            "kind": "challenger_held", "version": version,
            "champion": self.result.champion_version, "applicants": self.result.applicants,
            "figures": {f.name: [f.value, f.lo, f.hi, f.limit] for f in self.result.figures},
            "reasons": self.result.reasons(),
            "action": f"a person decides: creditplatform promote --version {version} --reason "
            f"'…' approves it; creditplatform promote --reject {version} --reason '…' drops it",
        }  # fmt: skip


def run_canary(
    registry: Registry, con: duckdb.DuckDBPyConnection, limits: CanaryLimits, attempt: Attempt
) -> RolloutOutcome:
    """Judge the challenger on its shadow scores; promote it (journalled) or hold it (once)."""
    with registry.champion_change():
        reconcile_promotions(registry, con, attempt.run_id, attempt.warn)
        champion, challenger = alias_version(registry, CHAMPION), current_challenger(registry)
        if champion is None or challenger is None:
            return RolloutOutcome("no_challenger")
        pairs, whole_month = shadow_pairs(con, champion, challenger)
        result = compare(
            pairs["champion_pd"].to_numpy(), pairs["challenger_pd"].to_numpy(), limits,
            (champion, challenger), sorted(pairs["month"].unique()), whole_month,
        )  # fmt: skip
        if result.verdict == "waiting":
            return RolloutOutcome("waiting", result, pairs=pairs)
        if result.verdict == "held" and decided(con, challenger, "held"):
            return RolloutOutcome("still_held", result, pairs=pairs)
        version = registry.version(challenger)
        promoted = result.verdict == "passed"
        record = AuditRecord(
            decided_at=attempt.decided_at, version=challenger,
            decision="promoted" if promoted else "held",
            # The promotion answers what made the model (drift, schedule, ...); the canary
            # is how, and says so in its first reason.
            trigger=version.tags.get("trigger") or attempt.trigger,
            reasons=result.reasons(), gates={"canary": result.as_dict()},
            dagster_run_id=attempt.run_id, data_sha256=version.tags.get("data_sha256", ""),
            previous_champion=champion, champion_after=challenger if promoted else champion,
            attempt_id=new_attempt_id(),
        )  # fmt: skip
        execute(registry, con, record)
        return RolloutOutcome("promoted" if promoted else "held", result, record, pairs)


def reject_challenger(
    registry: Registry,
    con: duckdb.DuckDBPyConnection,
    version: int,
    reason: str,
    attempt: Attempt,
) -> AuditRecord:
    """A person drops the challenger: it leaves the shadow, the champion stays (audited
    ``rejected``). Raises ``Refused`` when ``version`` is not the challenger."""
    with registry.champion_change():
        reconcile_promotions(registry, con, attempt.run_id, attempt.warn)
        challenger, champion = current_challenger(registry), alias_version(registry, CHAMPION)
        if challenger != version:
            now = f"v{challenger}" if challenger else "none"
            raise Refused(f"v{version} is not the challenger (the challenger is {now})")
        record = AuditRecord(
            decided_at=attempt.decided_at, version=version, decision="rejected",
            trigger=attempt.trigger,
            reasons=[reason, f"challenger v{version} rejected by hand; champion "
                     f"{'v' + str(champion) if champion else 'none'} stays"],
            gates={"manual": True, "action": "reject"}, dagster_run_id=attempt.run_id,
            data_sha256=registry.version(version).tags.get("data_sha256", ""),
            previous_champion=champion, champion_after=champion, attempt_id=new_attempt_id(),
        )  # fmt: skip
        execute(registry, con, record)
        return record
