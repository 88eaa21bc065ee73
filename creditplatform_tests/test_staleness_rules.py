"""The staleness verdict as a pure function: overdue landing, retirement flag, model age."""

from datetime import UTC, datetime, timedelta

from creditplatform.ml.staleness import StalenessEvidence, StalenessLimits, judge_staleness

NOW = datetime(2025, 3, 10, tzinfo=UTC)  # 2025-02 was due on 2025-03-05
LIMITS = StalenessLimits(
    model_max_age_days=90, retire_after_days=60, raw_due_day=5, min_training_months=6
)
FRESH = StalenessEvidence(
    now=NOW, latest_landed_month="2025-02", alerted_overdue_month=None, champion_version=3,
    champion_since=NOW - timedelta(days=10), model_trained_at=NOW - timedelta(days=10),
    matured_months=8,
)  # fmt: skip


def judge(**change) -> object:
    return judge_staleness(StalenessEvidence(**{**FRESH.__dict__, **change}), LIMITS)


def test_a_fresh_platform_asks_for_nothing():
    verdict = judge()
    assert verdict.overdue_month is None and verdict.retrain_reason is None
    assert verdict.notes == ["model is 10.0 days old (limit 90)"]


def test_a_late_month_is_alerted_once_per_expected_month():
    assert judge(latest_landed_month="2025-01").overdue_month == "2025-02"
    assert (
        judge(latest_landed_month="2025-01", alerted_overdue_month="2025-02").overdue_month is None
    )
    assert judge(latest_landed_month=None).overdue_month is None  # nothing ever landed


def test_an_old_champion_is_flagged_not_retrained():
    verdict = judge(champion_since=NOW - timedelta(days=61))
    assert verdict.retrain_reason is None
    assert any("flagged for retirement" in note for note in verdict.notes)
    assert verdict.retirement_due == 3  # the champion's version, for the alert and the tag
    assert judge(champion_since=NOW - timedelta(days=59)).retirement_due is None


def test_an_overdue_model_retrains_once_enough_months_matured():
    assert (
        judge(model_trained_at=NOW - timedelta(days=91)).retrain_reason == "model is 91.0 days old"
    )
    assert judge(model_trained_at=None).retrain_reason == "no model yet"
    waiting = judge(model_trained_at=None, matured_months=5)
    assert waiting.retrain_reason is None and "waits for 6" in waiting.notes[-1]
    busy = judge(model_trained_at=None, matured_months=None)
    assert busy.retrain_reason is None and "warehouse busy" in busy.notes[-1]
