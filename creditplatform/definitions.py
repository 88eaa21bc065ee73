"""The one place where the code location's Definitions are assembled."""

import dagster as dg

from creditplatform.defs.jobs import ingest_job
from creditplatform.defs.raw import raw_tables
from creditplatform.defs.resources import PlatformPaths
from creditplatform.defs.sensors import landing_sensor

defs = dg.Definitions(
    assets=[raw_tables],
    jobs=[ingest_job],
    sensors=[landing_sensor],
    resources={"paths": PlatformPaths.from_settings()},
)
