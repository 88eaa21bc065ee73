"""``feature_store``: one month of per-applicant features, published only if its checks pass."""

import dagster as dg

from creditplatform.defs import metadata as md
from creditplatform.defs.automation_conditions import follows_its_month
from creditplatform.defs.partitions import monthly_partitions
from creditplatform.defs.raw import raw_key
from creditplatform.defs.resources import WAREHOUSE_POOL, Warehouse
from creditplatform.features.catalog import (
    CATEGORICAL_FEATURES,
    FEATURE_SCHEMA_VERSION,
    FEATURES,
    NUMERIC_FEATURES,
)
from creditplatform.features.store import STORE, build_month
from creditplatform.homecredit import TABLES
from creditplatform.settings import load_settings

STORE_TYPES = {
    "month": "VARCHAR", "SK_ID_CURR": "BIGINT", "TARGET": "INTEGER",
    **dict.fromkeys(CATEGORICAL_FEATURES, "VARCHAR"), **dict.fromkeys(NUMERIC_FEATURES, "DOUBLE"),
}  # fmt: skip
FEATURE_CHECKS = {
    "expected_columns": "The store has exactly the catalog's columns.",
    "one_row_per_application": "One row per application of the month, no duplicates.",
    "no_infinite_values": "No ±inf in any numeric feature.",
    "null_rate_below_ceiling": "Every feature's null rate is under the configured ceiling.",
}


@dg.asset(
    key="feature_store",
    group_name="features",
    partitions_def=monthly_partitions,
    automation_condition=follows_its_month(),
    deps=[raw_key(t) for t in TABLES],
    check_specs=[
        dg.AssetCheckSpec(name, asset="feature_store", blocking=True, description=text)
        for name, text in FEATURE_CHECKS.items()
    ],
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "sql"},
    metadata={"dagster/column_schema": md.column_schema(STORE_TYPES)},
    description=f"Per-applicant features (DuckDB SQL over raw/*) in `{STORE}`, "
    f"schema version {FEATURE_SCHEMA_VERSION}, {len(FEATURES)} features.",
)
def feature_store(context: dg.AssetExecutionContext, warehouse: Warehouse):
    month = context.partition_key
    ceiling = load_settings().feature_null_ceiling
    with warehouse.get_connection() as con:
        build = build_month(con, month, ceiling)
    for check in build.checks:
        yield dg.AssetCheckResult(
            check_name=check.name,
            passed=check.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            description=check.description,
            metadata={"details": dg.MetadataValue.json(check.details)},
        )
    if not build.published:
        failed = [c.description for c in build.checks if not c.passed]
        raise dg.Failure(
            f"feature_store {month}: checks failed, not published: {failed}", allow_retries=False
        )
    sparsest = dict(sorted(build.null_rates.items(), key=lambda kv: -kv[1])[:10])
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(build.rows),
            "rows": dg.MetadataValue.int(build.rows),
            "features": dg.MetadataValue.int(len(FEATURES)),
            "feature_schema_version": dg.MetadataValue.int(FEATURE_SCHEMA_VERSION),
            "sparsest_features": dg.MetadataValue.json(sparsest),
            "table": STORE,
        }
    )
