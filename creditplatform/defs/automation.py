"""Sensors and schedules that close the loop: drift/performance and staleness trigger retrains,
failures raise alerts, and a weekly schedule retrains regardless.

The decisions themselves are pure functions in ``creditplatform.ml.retrain_rules``; these
sensors only gather the evidence from the instance and turn decisions into run requests.
"""

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb

from creditplatform import clock
from creditplatform.alerts import send_alert
from creditplatform.defs.jobs import retrain_job
from creditplatform.defs.resources import MlflowResource, PlatformPaths
from creditplatform.ml.retrain_rules import (
    DriftEvidence,
    RetrainRules,
    evaluate,
    performance_retrain,
    should_retrain,
    skip_reason,
)
from creditplatform.ml.splits import matured_months
from creditplatform.ml.training_data import label_share_by_month
from creditplatform.settings import Settings, load_settings
from creditplatform.status import expected_latest_month

DRIFT_REPORT = dg.AssetKey("drift_report")
RAW_APPLICATION = "raw/application"
TRIGGER = "creditplatform/trigger"


def _as_of(record: dg.EventLogRecord) -> float:
    """When the drift report was made by the platform's clock (its wall time before ``as_of``)."""
    entry = record.asset_materialization.metadata.get("as_of")
    return datetime.fromisoformat(entry.value).timestamp() if entry else record.timestamp


def _value(metadata: dict, key: str) -> float | None:
    entry = metadata.get(key)
    value = getattr(entry, "value", None)
    return None if value is None or value != value else value


def _performance_request(cursor: dict, month: str, drop: float | None, settings: Settings):
    """Record this month's AUC drop; request a retrain when enough consecutive months drop."""
    drops = cursor.setdefault("auc_drops", {})
    if drop is None:
        return None
    drops[month] = drop
    if performance_retrain(
        drops, month, settings.performance_relative_drop, settings.performance_consecutive_months
    ):
        return dg.RunRequest(
            run_key=f"performance:{month}",
            tags={TRIGGER: "performance", "creditplatform/month": month},
        )
    return None


@dg.sensor(
    job=retrain_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="On each new drift_report: retrain when PSI, prediction drift, new labels and "
    "cooldown all agree (trigger=drift), or when the champion's AUC on matured months has "
    "dropped for consecutive months (trigger=performance).",
)
def drift_retrain_sensor(context: dg.SensorEvaluationContext):
    settings = load_settings()
    cursor = json.loads(context.cursor) if context.cursor else {}
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=DRIFT_REPORT, after_storage_id=cursor.get("after")),
        limit=200,
        ascending=True,
    ).records
    requests, skips = [], []
    for record in records:
        cursor["after"] = record.storage_id
        event = record.asset_materialization
        month, metadata = event.partition, event.metadata
        if _value(metadata, "max_psi") is None:
            skips.append(f"{month}: no champion to compare with")
            continue
        last = cursor.get("last_drift_retrain_ts")
        evidence = DriftEvidence(
            max_psi=_value(metadata, "max_psi"),
            max_psi_feature=metadata["max_psi_feature"].value,
            prediction_ks_pvalue=_value(metadata, "prediction_ks_pvalue"),
            new_labelled_rows=int(_value(metadata, "new_labelled_rows") or 0),
            hours_since_last_retrain=None if last is None else (_as_of(record) - last) / 3600,
        )
        conditions = evaluate(evidence, RetrainRules.from_settings(settings))
        if should_retrain(conditions):
            cursor["last_drift_retrain_ts"] = _as_of(record)
            requests.append(
                dg.RunRequest(
                    run_key=f"drift:{month}:{record.storage_id}",
                    tags={TRIGGER: "drift", "creditplatform/month": month},
                )
            )
        else:
            skips.append(f"{month}: {skip_reason(conditions)}")
        performance = _performance_request(
            cursor, month, _value(metadata, "auc_relative_drop"), settings
        )
        if performance is not None:
            requests.append(performance)
    context.update_cursor(json.dumps(cursor))
    if requests:
        return requests
    return dg.SkipReason("; ".join(skips) if skips else "no new drift report")


def _latest_timestamp(instance: dg.DagsterInstance, key: str) -> float | None:
    event = instance.get_latest_materialization_event(dg.AssetKey.from_user_string(key))
    return event.timestamp if event else None


def _model_trained_at(instance: dg.DagsterInstance) -> datetime | None:
    """When the newest candidate was trained, by the platform's clock (``trained_at``)."""
    event = instance.get_latest_materialization_event(dg.AssetKey("candidate_model"))
    if event is None:
        return None
    entry = event.asset_materialization.metadata.get("trained_at")
    if entry is not None:
        return datetime.fromisoformat(entry.value)
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
    context: dg.SensorEvaluationContext, paths: PlatformPaths, mlflow_tracking: MlflowResource
):
    settings = load_settings()
    now = clock.now(settings.data_dir)
    cursor = json.loads(context.cursor) if context.cursor else {}
    notes, requests = [], []

    raw_ts = _latest_timestamp(context.instance, RAW_APPLICATION)
    partitions = context.instance.get_materialized_partitions(
        dg.AssetKey.from_user_string(RAW_APPLICATION)
    )
    latest_month = max(partitions) if partitions else None
    expected = expected_latest_month(now, settings.raw_due_day)
    if raw_ts is not None and latest_month < expected and cursor.get("alerted_month") != expected:
        send_alert(
            settings.reports_dir / "alerts.jsonl",
            settings.alert_webhook_url,
            {"kind": "landing_overdue", "expected_month": expected, "latest_month": latest_month},
        )
        cursor["alerted_month"] = expected
        notes.append(f"landing overdue: expected {expected}, latest {latest_month} (alerted)")

    champion = mlflow_tracking.registry().champion()
    if champion is not None:
        from creditplatform.ml.registry import champion_since

        age = (now - champion_since(champion)).total_seconds() / 86400
        if age > settings.retire_after_days:
            notes.append(
                f"champion v{champion.version} has been champion {age:.0f} days (limit "
                f"{settings.retire_after_days:.0f}): flagged for retirement"
            )

    trained_at = _model_trained_at(context.instance)
    age_days = None if trained_at is None else (now - trained_at).total_seconds() / 86400
    if age_days is None or age_days > settings.model_max_age_days:
        matured = _matured_months(paths, settings)
        if matured is None:
            notes.append("warehouse busy (a run is writing it): matured months checked next tick")
        elif len(matured) >= settings.min_training_months:
            reason = "no model yet" if age_days is None else f"model is {age_days:.1f} days old"
            requests.append(
                dg.RunRequest(
                    run_key=f"staleness:{now.date().isoformat()}:{len(matured)}",
                    tags={TRIGGER: "staleness", "creditplatform/reason": reason},
                )
            )
        else:
            notes.append(
                f"model overdue but only {len(matured)} matured month(s); "
                f"the first model waits for {settings.min_training_months}"
            )
    else:
        notes.append(f"model is {age_days:.1f} days old (limit {settings.model_max_age_days:.0f})")
    context.update_cursor(json.dumps(cursor))
    return requests or dg.SkipReason("; ".join(notes))


def _matured_months(paths: PlatformPaths, settings: Settings) -> list[str] | None:
    """Matured months in the feature store; None while a writer holds the warehouse (a sensor
    tick must not wait on, or fail because of, a run)."""
    if not paths.warehouse.exists():
        return []
    try:
        with duckdb.connect(str(paths.warehouse), read_only=True) as con:
            return matured_months(label_share_by_month(con), settings.matured_label_share)
    except duckdb.CatalogException:
        return []  # no feature store yet
    except duckdb.IOException:
        return None


def _failed_checks(instance: dg.DagsterInstance, run_id: str) -> list:
    """The asset check evaluations of one run that failed (read run-aware, so it works on the
    default run-sharded SQLite storage)."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records]
    return [e for e in evaluations if not e.passed]


def _check_name(evaluation) -> str:
    return f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every failed run (failed contracts included) goes to reports/alerts.jsonl and "
    "the configured webhook, once, naming the checks that failed in it.",
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext):
    settings = load_settings()
    run = context.dagster_run
    failed = _failed_checks(context.instance, run.run_id)
    send_alert(
        settings.reports_dir / "alerts.jsonl",
        settings.alert_webhook_url,
        {
            "kind": "run_failure",
            "job": run.job_name,
            "run_id": run.run_id,
            "partition": run.tags.get("dagster/partition"),
            "message": context.failure_event.message,
            "failed_checks": [_check_name(e) for e in failed],
            "descriptions": [e.description for e in failed if e.description],
        },
    )


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="check_failure_alert_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every failed asset check of a run that succeeded (warnings such as "
    "drift_within_limits) goes to reports/alerts.jsonl and the webhook, once; failed checks of "
    "a failed run are in its run_failure alert. A new sensor starts from now: no replay.",
)
def check_failure_alert_sensor(context: dg.RunStatusSensorContext):
    settings = load_settings()
    failed = _failed_checks(context.instance, context.dagster_run.run_id)
    for evaluation in failed:
        send_alert(
            settings.reports_dir / "alerts.jsonl",
            settings.alert_webhook_url,
            {
                "kind": "check_failure",
                "asset": evaluation.asset_key.to_user_string(),
                "check": evaluation.check_name,
                "severity": evaluation.severity.value,
                "description": evaluation.description,
                "run_id": context.dagster_run.run_id,
                "partition": context.dagster_run.tags.get("dagster/partition"),
            },
        )
    return dg.SkipReason(f"{len(failed)} check failure alert(s) sent")


weekly_retrain_schedule = dg.ScheduleDefinition(
    name="weekly_retrain_schedule",
    job=retrain_job,
    cron_schedule="0 0 * * 0",
    execution_timezone="UTC",
    tags={TRIGGER: "schedule"},
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Retrain every Sunday 00:00 UTC, whatever the monitors say.",
)

automation_sensor = dg.AutomationConditionSensorDefinition(
    "automation_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Declarative automation: features, drift report and scores follow their month.",
)


def freshness(settings: Settings):
    """The policies the UI judges; staleness_sensor computes the same numbers itself."""
    due = dg.FreshnessPolicy.cron(
        deadline_cron=f"0 0 {settings.raw_due_day} * *", lower_bound_delta=timedelta(days=28)
    )
    model = dg.FreshnessPolicy.time_window(fail_window=timedelta(days=settings.model_max_age_days))
    return due, model
