"""Jobs: ``ingest_job`` takes one month through the monthly graph; ``retrain_job`` retrains."""

import dagster as dg

from creditplatform.defs.mlflow_run import end_mlflow_on_run_finished
from creditplatform.defs.raw import RAW_GROUP
from creditplatform.defs.training import TRAINING_GROUP

# Writers are serialised by the `warehouse` concurrency pool their assets declare (see
# dagster.yaml), which holds for every way a run starts; no run tags are needed for it.

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.groups(RAW_GROUP) | dg.AssetSelection.assets("feature_store"),
    description="One landing month: raw tables behind their contracts, then its features.",
)

retrain_job = dg.define_asset_job(
    "retrain_job",
    selection=dg.AssetSelection.groups(TRAINING_GROUP),
    description="Splits → candidate model → evaluation → gated promotion.",
    # dagster-mlflow ends the job's MLflow run after the last step, FAILED if one fails.
    hooks={end_mlflow_on_run_finished},
)

score_job = dg.define_asset_job(
    "score_job",
    selection=dg.AssetSelection.assets("batch_scores"),
    description="The champion scores one month's applications.",
)
