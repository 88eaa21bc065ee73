"""When age alone acts: an overdue landing month is alerted, an old champion flagged for
retirement, and an overdue (or missing) model retrained once enough months have matured.

The same numbers drive the freshness policies the Dagster UI judges (``defs/freshness.py``);
``staleness_sensor`` gathers this evidence and acts on the verdict. No Dagster import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from creditplatform.months import expected_latest_month


@dataclass(frozen=True)
class StalenessLimits:
    model_max_age_days: float
    retire_after_days: float
    raw_due_day: int
    min_training_months: int


@dataclass(frozen=True)
class StalenessEvidence:
    now: datetime  # the platform's clock
    latest_landed_month: str | None  # None: nothing ingested yet
    alerted_overdue_month: str | None  # the expected month already alerted as overdue
    champion_version: int | None
    champion_since: datetime | None
    model_trained_at: datetime | None  # the newest candidate; None: no model yet
    matured_months: int | None  # None: the warehouse was busy, count unknown


@dataclass
class StalenessVerdict:
    overdue_month: str | None = None  # alert: this month should have landed
    retirement_due: int | None = None  # this champion version is past retire_after_days
    retrain_reason: str | None = None  # request a retrain, for this reason
    notes: list[str] = field(default_factory=list)


def _days(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 86400


def judge_staleness(e: StalenessEvidence, limits: StalenessLimits) -> StalenessVerdict:
    verdict = StalenessVerdict()
    expected = expected_latest_month(e.now, limits.raw_due_day)
    late = e.latest_landed_month is not None and e.latest_landed_month < expected
    if late and e.alerted_overdue_month != expected:
        verdict.overdue_month = expected
        verdict.notes.append(
            f"landing overdue: expected {expected}, latest {e.latest_landed_month} (alerted)"
        )
    if e.champion_since is not None:
        age = _days(e.now, e.champion_since)
        if age > limits.retire_after_days:
            verdict.retirement_due = e.champion_version
            verdict.notes.append(
                f"champion v{e.champion_version} has been champion {age:.0f} days (limit "
                f"{limits.retire_after_days:.0f}): flagged for retirement"
            )
    age_days = None if e.model_trained_at is None else _days(e.now, e.model_trained_at)
    if age_days is not None and age_days <= limits.model_max_age_days:
        verdict.notes.append(
            f"model is {age_days:.1f} days old (limit {limits.model_max_age_days:.0f})"
        )
    elif e.matured_months is None:
        verdict.notes.append(
            "warehouse busy (a run is writing it): matured months checked next tick"
        )
    elif e.matured_months >= limits.min_training_months:
        verdict.retrain_reason = (
            "no model yet" if age_days is None else f"model is {age_days:.1f} days old"
        )
    else:
        verdict.notes.append(
            f"model overdue but only {e.matured_months} matured month(s); "
            f"the first model waits for {limits.min_training_months}"
        )
    return verdict
