"""The one place where the code location's Definitions are assembled: assets, checks, jobs,
sensors, the cross-cutting policy mapped over every spec, and the resources built from
``Settings`` (the only way settings reach an asset or a sensor)."""

import warnings
from typing import cast

import dagster as dg

from creditplatform.defs.alerts import check_failure_alert_sensor, run_failure_alert_sensor
from creditplatform.defs.automation import automation_sensor
from creditplatform.defs.degradation_review import degradation_review_job
from creditplatform.defs.drift import drift_report
from creditplatform.defs.features import feature_store
from creditplatform.defs.freshness import landing_due, model_age
from creditplatform.defs.jobs import ingest_job, retrain_job, score_job
from creditplatform.defs.lake_maintenance import lake_maintenance_job, lake_maintenance_schedule
from creditplatform.defs.landing import landing_sensor
from creditplatform.defs.manual_promotion import manual_promotion_job
from creditplatform.defs.mlflow_run import mlflow_run
from creditplatform.defs.raw import raw_tables
from creditplatform.defs.resources import (
    Alerts,
    DriftRules,
    FeatureQuality,
    Freshness,
    JsonIOManager,
    MlflowResource,
    PlatformPaths,
    PromotionGates,
    RolloutPolicy,
    ScoringPolicy,
    TrainingPolicy,
    Warehouse,
)
from creditplatform.defs.retrain_triggers import (
    drift_retrain_sensor,
    staleness_sensor,
    weekly_retrain_schedule,
)
from creditplatform.defs.rollout import canary_sensor, champion_rollout, rollout_job
from creditplatform.defs.run_health import dead_run_sensor
from creditplatform.defs.scoring import batch_scores
from creditplatform.defs.training import (
    candidate_model,
    evaluation_report,
    registry_promotion,
    training_data_unchanged,
    training_splits,
)
from creditplatform.settings import Settings, load_settings

MODEL_ASSETS = {"candidate_model", "registry_promotion"}
OWNERS = ["team:credit-risk"]
# Groups whose tables hold applicants' personal data (as landed, or per applicant).
PERSONAL_DATA_GROUPS = {"raw", "features", "scoring"}


def platform_resources(settings: Settings) -> dict:
    """Every resource, keyed as the assets and sensors name their parameters."""
    paths = PlatformPaths.from_settings(settings)
    tracking = MlflowResource.from_settings(settings)
    return {
        "paths": paths,
        "warehouse": Warehouse.from_settings(settings),
        "mlflow_tracking": tracking,  # registry, aliases, links: ours
        "mlflow": mlflow_run(tracking),  # the Dagster run's MLflow run: dagster-mlflow's
        "training": TrainingPolicy.from_settings(settings),
        "scoring_policy": ScoringPolicy.from_settings(settings),
        "promotion_gates": PromotionGates.from_settings(settings),
        "rollout_policy": RolloutPolicy.from_settings(settings),
        "drift_rules": DriftRules.from_settings(settings),
        "feature_quality": FeatureQuality.from_settings(settings),
        "freshness": Freshness.from_settings(settings),
        "alerts": Alerts(
            alerts_file=str(paths.alerts_file), alert_webhook_url=settings.alert_webhook_url
        ),
        # Records between assets as JSON, never pickle (see JsonIOManager).
        "io_manager": JsonIOManager(base_dir=str(settings.dagster_storage_dir / "records")),
    }


def _policy(freshness: Freshness):
    """Cross-cutting policy in one place: owners and tags on every asset; landing months are
    due monthly; models age out."""
    due, too_old = landing_due(freshness), model_age(freshness)

    def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        personal = "yes" if spec.group_name in PERSONAL_DATA_GROUPS else "no"
        spec = spec.replace_attributes(
            owners=OWNERS, tags={**spec.tags, "layer": spec.group_name or "", "pii": personal}
        )
        if spec.key.path[0] == "raw":
            return spec.replace_attributes(freshness_policy=due)
        if spec.key.to_user_string() in MODEL_ASSETS:
            return spec.replace_attributes(freshness_policy=too_old)
        return spec

    return apply


def build_definitions(settings: Settings) -> dg.Definitions:
    """The code location for one data dir (tests and benchmarks build their own)."""
    assets = [
        raw_tables,
        feature_store,
        training_splits,
        candidate_model,
        evaluation_report,
        registry_promotion,
        drift_report,
        batch_scores,
        champion_rollout,
    ]
    with warnings.catch_warnings():  # code references are beta; say so once, here, not per load
        warnings.simplefilter("ignore", dg.BetaWarning)
        # It returns the definitions it was given, with code references attached.
        located = cast(list[dg.AssetsDefinition], dg.with_source_code_references(assets))
    resources = platform_resources(settings)
    # Only a DuckLake warehouse needs housekeeping (production profile).
    lake_jobs = [lake_maintenance_job] if settings.production else []
    lake_schedules = [lake_maintenance_schedule] if settings.production else []
    return dg.Definitions(
        assets=dg.map_asset_specs(_policy(resources["freshness"]), located),
        asset_checks=[training_data_unchanged],
        jobs=[
            ingest_job,
            retrain_job,
            score_job,
            manual_promotion_job,
            rollout_job,
            degradation_review_job,
            *lake_jobs,
        ],
        schedules=[weekly_retrain_schedule, *lake_schedules],
        sensors=[
            landing_sensor,
            drift_retrain_sensor,
            staleness_sensor,
            canary_sensor,
            run_failure_alert_sensor,
            check_failure_alert_sensor,
            automation_sensor,
            dead_run_sensor,
        ],
        # One process per run: every step shares the warehouse file, which DuckDB lets only one
        # process open for writing, and the multiprocess executor costs seconds per step.
        executor=dg.in_process_executor,
        resources=resources,
    )


defs = build_definitions(load_settings())
