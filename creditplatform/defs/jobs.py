"""Jobs: ``ingest_job`` takes one month through the monthly graph; ``retrain_job`` retrains."""

import dagster as dg

from creditplatform.defs.partitions import monthly_partitions
from creditplatform.defs.raw import RAW_GROUP, WAREHOUSE_WRITE_TAG
from creditplatform.defs.retrain import PROMOTION_TAG, TRAINING_GROUP

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.groups(RAW_GROUP) | dg.AssetSelection.assets("feature_store"),
    partitions_def=monthly_partitions,
    tags=WAREHOUSE_WRITE_TAG,
    description="One landing month: raw tables behind their contracts, then its features.",
)

retrain_job = dg.define_asset_job(
    "retrain_job",
    selection=dg.AssetSelection.groups(TRAINING_GROUP),
    tags={**PROMOTION_TAG, **WAREHOUSE_WRITE_TAG},
    description="Splits → candidate model → evaluation → gated promotion.",
)

score_job = dg.define_asset_job(
    "score_job",
    selection=dg.AssetSelection.assets("batch_scores"),
    partitions_def=monthly_partitions,
    tags=WAREHOUSE_WRITE_TAG,
    description="The champion scores one month's applications.",
)
