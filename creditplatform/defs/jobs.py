"""Jobs: ``ingest_job`` takes one month through the monthly graph."""

import dagster as dg

from creditplatform.defs.partitions import monthly_partitions
from creditplatform.defs.raw import RAW_GROUP, WAREHOUSE_WRITE_TAG

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.groups(RAW_GROUP),
    partitions_def=monthly_partitions,
    tags=WAREHOUSE_WRITE_TAG,
    description="One landing month: raw tables behind their contracts.",
)
