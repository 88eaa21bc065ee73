"""What starts ``retrain_job`` without a person: drift or falling performance, age, and a weekly
schedule.

The decisions are pure functions (``ml/retrain_rules.py``, ``ml/staleness.py``); these sensors
gather the evidence from the instance and the warehouse and turn verdicts into run requests.
"""

import json
from datetime import UTC, datetime

import dagster as dg

from creditplatform.defs.degradation_review import degradation_review_job
from creditplatform.defs.event_records import materialization, number, value
from creditplatform.defs.jobs import retrain_job
from creditplatform.defs.resources import (
    Alerts,
    DriftRules,
    Freshness,
    MlflowResource,
    PlatformPaths,
    TrainingPolicy,
    Warehouse,
)
from creditplatform.ml.retrain_rules import (
    DriftEvidence,
    evaluate,
    performance_action,
    retrain_hold,
    should_retrain,
    skip_reason,
)
from creditplatform.ml.staleness import StalenessEvidence, StalenessLimits, judge_staleness
from creditplatform.ml.training_data import matured_months_if_free

DRIFT_REPORT = dg.AssetKey("drift_report")
RAW_APPLICATION = dg.AssetKey(["raw", "application"])
TRIGGER = "creditplatform/trigger"


def _as_of(record: dg.EventLogRecord) -> float:
    """When the drift report was made by the platform's clock (its wall time before ``as_of``)."""
    as_of = value(materialization(record).metadata, "as_of")
    return datetime.fromisoformat(as_of).timestamp() if as_of else record.timestamp


def _evidence(
    record: dg.EventLogRecord, max_psi: float, ks_pvalue: float, last_retrain_ts: float | None
) -> DriftEvidence:
    metadata = materialization(record).metadata
    return DriftEvidence(
        max_psi=max_psi,
        max_psi_feature=value(metadata, "max_psi_feature"),
        prediction_ks_pvalue=ks_pvalue,
        new_labelled_rows=int(number(metadata, "new_labelled_rows") or 0),
        hours_since_last_retrain=(
            None if last_retrain_ts is None else (_as_of(record) - last_retrain_ts) / 3600
        ),
    )


def _month(record: dg.EventLogRecord) -> str:
    """The month a drift report is for (drift_report is monthly partitioned)."""
    month = materialization(record).partition
    if month is None:
        raise ValueError(f"drift report {record.storage_id} has no partition")
    return month


def _request(trigger: str, key: str, month: str) -> dg.RunRequest:
    return dg.RunRequest(run_key=key, job_name=retrain_job.name,
                         tags={TRIGGER: trigger, "creditplatform/month": month})  # fmt: skip


def _review(month: str, version: int, months: list[str]) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=f"degradation:{month}:v{version}", job_name=degradation_review_job.name,
        run_config={"ops": {"review_degraded_champion": {"config": {"months": months}}}},
        tags={TRIGGER: "degradation", "creditplatform/month": month},
    )  # fmt: skip


def _performance(
    record: dg.EventLogRecord,
    cursor: dict,
    rules: DriftRules,
    alerts: Alerts,
    hold: str | None,
    requested: list[str],
):
    """The performance rule on one drift report: the month's degraded verdict counted against
    the same champion's earlier months; an alert for a degraded month; a retrain when
    ``performance_consecutive_months`` are degraded in a row; and once the degradation is
    sustained (``degraded_months`` in a row, or still degraded under a champion a performance
    retrain was requested to replace) an alert and a degradation review, every month it lasts."""
    month, metadata = _month(record), materialization(record).metadata
    degraded = number(metadata, "performance_degraded")
    if degraded is None:
        return []
    version = int(value(metadata, "champion_version"))
    judged = cursor.setdefault("degraded", {})
    judged[month] = [version, bool(degraded)]
    if not degraded:
        return []
    same_champion = {m: bad for m, (v, bad) in judged.items() if v == version}
    alerts.send({"kind": "performance_degraded", "month": month, "champion_version": version,
                 "reasons": value(metadata, "performance_reasons")})  # fmt: skip
    retrained = cursor.setdefault("performance_retrain", {})  # champion version -> month
    action = performance_action(same_champion, month, retrained.get(str(version)),
                                rules.performance_rules())  # fmt: skip
    if action.kind == "review":
        alerts.send({"kind": "sustained_degradation", "month": month, "champion_version": version,
                     "degraded_months": action.months,
                     "action": "earlier versions are scored on these months (degradation "
                     "review); the champion stays unless one is better with evidence"})  # fmt: skip
        return [_review(month, version, action.months)]
    if action.kind == "retrain" and hold is None:
        retrained[str(version)] = month
        requested.append(f"performance, {month}")
        return [_request("performance", f"performance:{month}:v{version}", month)]
    return []


def _judge_report(
    record: dg.EventLogRecord,
    cursor: dict,
    rules: DriftRules,
    alerts: Alerts,
    challenger: int | None,
    requested: list[str],
):
    """Run requests for one drift report (drift, performance), or the reason for none;
    ``challenger`` is the version in shadow now (None: none), ``requested`` the retrains this
    tick asked for so far (appended to)."""
    month, metadata = _month(record), materialization(record).metadata
    max_psi, ks_pvalue = number(metadata, "max_psi"), number(metadata, "prediction_ks_pvalue")
    if max_psi is None or ks_pvalue is None:
        return [], f"{month}: no champion to compare with"
    requests: list[dg.RunRequest] = []
    skipped = None
    hold = retrain_hold(challenger, next(iter(requested), None))
    evidence = _evidence(record, max_psi, ks_pvalue, cursor.get("last_drift_retrain_ts"))
    conditions = evaluate(evidence, rules.retrain_rules())
    if should_retrain(conditions) and hold:
        skipped = f"{month}: drift retrain held back: {hold}"
    elif should_retrain(conditions):
        cursor["last_drift_retrain_ts"] = _as_of(record)
        requests.append(_request("drift", f"drift:{month}:{record.storage_id}", month))
        requested.append(f"drift, {month}")
    else:
        skipped = f"{month}: {skip_reason(conditions)}"
    hold = retrain_hold(challenger, next(iter(requested), None))
    return requests + _performance(record, cursor, rules, alerts, hold, requested), skipped


@dg.sensor(
    jobs=[retrain_job, degradation_review_job],
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="On each new drift_report: retrain when PSI, prediction drift, new labels and "
    "cooldown all agree (trigger=drift), or when the champion's AUC or calibration on matured "
    "months is significantly worse for consecutive months (trigger=performance); degraded "
    "months are alerted; sustained degradation runs degradation_review_job.",
)
def drift_retrain_sensor(
    context: dg.SensorEvaluationContext,
    drift_rules: DriftRules,
    alerts: Alerts,
    mlflow_tracking: MlflowResource,
):
    from creditplatform.ml.promotion import current_challenger

    challenger = current_challenger(mlflow_tracking.registry())
    cursor = json.loads(context.cursor) if context.cursor else {}
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=DRIFT_REPORT, after_storage_id=cursor.get("after")),
        limit=200,
        ascending=True,
    ).records
    requests: list[dg.RunRequest] = []
    skips: list[str] = []
    requested: list[str] = []
    for record in records:
        cursor["after"] = record.storage_id
        found, skipped = _judge_report(record, cursor, drift_rules, alerts, challenger, requested)
        requests += found
        skips += [skipped] if skipped else []
    context.update_cursor(json.dumps(cursor))
    if requests:
        return requests
    return dg.SkipReason("; ".join(skips) if skips else "no new drift report")


def _model_trained_at(instance: dg.DagsterInstance) -> datetime | None:
    """When the newest candidate was trained, by the platform's clock (``trained_at``)."""
    event = instance.get_latest_materialization_event(dg.AssetKey("candidate_model"))
    if event is None:
        return None
    found = event.asset_materialization
    trained_at = None if found is None else value(found.metadata, "trained_at")
    if trained_at is not None:
        return datetime.fromisoformat(trained_at)
    return datetime.fromtimestamp(event.timestamp, tz=UTC)


@dg.sensor(
    job=retrain_job,
    # Every minute, so the first model follows within a minute or two of the month that
    # completes its history (the tick is cheap: instance reads and one small DuckDB query).
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Same numbers as the freshness policies: an overdue (or missing) model is "
    "retrained (trigger=staleness); an old champion is flagged; an overdue month is an alert.",
)
def staleness_sensor(
    context: dg.SensorEvaluationContext,
    paths: PlatformPaths,
    warehouse: Warehouse,
    mlflow_tracking: MlflowResource,
    freshness: Freshness,
    training: TrainingPolicy,
    alerts: Alerts,
):
    from creditplatform.ml.registry import champion_since, flag_retirement

    cursor = json.loads(context.cursor) if context.cursor else {}
    landed = context.instance.get_materialized_partitions(RAW_APPLICATION)
    champion = mlflow_tracking.registry().champion()
    matured = matured_months_if_free(warehouse.location(), training.matured_label_share)
    evidence = StalenessEvidence(
        now=paths.now(), latest_landed_month=max(landed) if landed else None,
        alerted_overdue_month=cursor.get("alerted_month"),
        champion_version=int(champion.version) if champion else None,
        champion_since=champion_since(champion) if champion else None,
        model_trained_at=_model_trained_at(context.instance),
        matured_months=None if matured is None else len(matured),
    )  # fmt: skip
    limits = StalenessLimits(freshness.model_max_age_days, freshness.retire_after_days,
                             freshness.raw_due_day, training.min_training_months)  # fmt: skip
    verdict = judge_staleness(evidence, limits)
    if verdict.overdue_month:
        alerts.send({"kind": "landing_overdue", "expected_month": verdict.overdue_month,
                     "latest_month": evidence.latest_landed_month})  # fmt: skip
        cursor["alerted_month"] = verdict.overdue_month
    if verdict.retirement_due and cursor.get("retirement_alerted") != verdict.retirement_due:
        flag_retirement(mlflow_tracking.registry(), verdict.retirement_due, evidence.now)
        since = evidence.champion_since  # set whenever a retirement is due
        alerts.send({"kind": "retirement_due", "champion_version": verdict.retirement_due,
                     "champion_since": since and since.isoformat(),
                     "retire_after_days": limits.retire_after_days,
                     "action": "review the champion or retrain"})  # fmt: skip
        cursor["retirement_alerted"] = verdict.retirement_due
    context.update_cursor(json.dumps(cursor))
    if verdict.retrain_reason:
        return [dg.RunRequest(
            run_key=f"staleness:{evidence.now.date().isoformat()}:{evidence.matured_months}",
            tags={TRIGGER: "staleness", "creditplatform/reason": verdict.retrain_reason},
        )]  # fmt: skip
    return dg.SkipReason("; ".join(verdict.notes))


weekly_retrain_schedule = dg.ScheduleDefinition(
    name="weekly_retrain_schedule",
    job=retrain_job,
    cron_schedule="0 0 * * 0",
    execution_timezone="UTC",
    tags={TRIGGER: "schedule"},
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Retrain every Sunday 00:00 UTC, whatever the monitors say.",
)
