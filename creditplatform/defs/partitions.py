"""Monthly partitions keyed ``YYYY-MM``, the landing folder names."""

import dagster as dg

from creditplatform.settings import load_settings

monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=load_settings().start_month, fmt="%Y-%m"
)
