"""The one place where the code location's Definitions are assembled."""

import dagster as dg

from creditplatform.defs.features import feature_store
from creditplatform.defs.jobs import ingest_job, retrain_job, score_job
from creditplatform.defs.manual import manual_promotion_job
from creditplatform.defs.raw import raw_tables
from creditplatform.defs.resources import MlflowResource, PlatformPaths
from creditplatform.defs.retrain import (
    candidate_model,
    evaluation_report,
    registry_promotion,
    training_data_unchanged,
    training_splits,
)
from creditplatform.defs.scoring import batch_scores
from creditplatform.defs.sensors import landing_sensor
from creditplatform.settings import Settings, load_settings


def build_definitions(settings: Settings) -> dg.Definitions:
    """The code location for one data dir (tests and benchmarks build their own)."""
    return dg.Definitions(
        assets=[
            raw_tables,
            feature_store,
            training_splits,
            candidate_model,
            evaluation_report,
            registry_promotion,
            batch_scores,
        ],
        asset_checks=[training_data_unchanged],
        jobs=[ingest_job, retrain_job, score_job, manual_promotion_job],
        sensors=[landing_sensor],
        resources={
            "paths": PlatformPaths(data_dir=str(settings.data_dir)),
            "mlflow_tracking": MlflowResource.for_settings(settings),
        },
    )


defs = build_definitions(load_settings())
