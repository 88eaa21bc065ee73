"""Declarative automation: the condition the monthly assets share, and the sensor that
evaluates it."""

import dagster as dg

_CHAMPION = dg.AssetSelection.assets("registry_promotion")


def follows_its_month() -> dg.AutomationCondition:
    """Like ``eager()``, but for every month rather than only the latest time window (history
    is back-filled month by month), and a new champion does not re-run every past month. Nothing
    runs while a dependency — the champion included — has never been materialised."""
    updated = dg.AutomationCondition.any_deps_updated().ignore(_CHAMPION)
    return (
        (dg.AutomationCondition.newly_missing() | updated).since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("follows its month")


automation_sensor = dg.AutomationConditionSensorDefinition(
    "automation_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Declarative automation: features, drift report and scores follow their month.",
)
