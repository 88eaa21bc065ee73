"""Monthly partitions keyed ``YYYY-MM``, the landing folder names.

They run to the last ended month by the platform's clock (``creditplatform.clock``): under the
demo's simulated clock that is where the data ends, not today, read when the code is loaded.
The partition range is the graph's shape, fixed when the code location loads, not a value a
run receives, so it is read from ``Settings`` here rather than through a resource.
"""

import dagster as dg

from creditplatform.clock import last_partition_month
from creditplatform.months import add_months
from creditplatform.settings import load_settings

_settings = load_settings()
_last = last_partition_month(_settings.data_dir)
monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=_settings.start_month,
    end_date=add_months(_last, 1) if _last else None,
    fmt="%Y-%m",
)
