"""The freshness policies the Dagster UI judges: a landing month is due by ``raw_due_day`` of
the next month; a model is overdue after ``model_max_age_days``. ``staleness_sensor`` acts on
the same two numbers (``ml/staleness.py``); ``definitions.py`` maps these over the specs."""

from datetime import timedelta

import dagster as dg

from creditplatform.defs.resources import Freshness


def landing_due(freshness: Freshness) -> dg.FreshnessPolicy:
    return dg.FreshnessPolicy.cron(
        deadline_cron=f"0 0 {freshness.raw_due_day} * *", lower_bound_delta=timedelta(days=28)
    )


def model_age(freshness: Freshness) -> dg.FreshnessPolicy:
    return dg.FreshnessPolicy.time_window(fail_window=timedelta(days=freshness.model_max_age_days))
