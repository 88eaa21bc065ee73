"""``feature_store``: one month of per-applicant features, published only if its checks pass."""

import dagster as dg

from creditplatform.defs import metadata as md
from creditplatform.defs.automation import follows_its_month
from creditplatform.defs.partitions import monthly_partitions
from creditplatform.defs.raw import raw_key
from creditplatform.defs.resources import (
    MONTHLY_RETRY,
    WAREHOUSE_POOL,
    FeatureQuality,
    MlflowResource,
    Warehouse,
)
from creditplatform.features.catalog import (
    CATEGORICAL_FEATURES,
    FEATURE_SCHEMA_VERSION,
    FEATURES,
    NUMERIC_FEATURES,
)
from creditplatform.features.contract import feature_schema
from creditplatform.features.quality import quality_findings
from creditplatform.features.store import STORE, FeatureSqlError, build_month
from creditplatform.homecredit import TABLES

STORE_TYPES = {
    "month": "VARCHAR", "SK_ID_CURR": "BIGINT", "TARGET": "INTEGER",
    **dict.fromkeys(CATEGORICAL_FEATURES, "VARCHAR"), **dict.fromkeys(NUMERIC_FEATURES, "DOUBLE"),
}  # fmt: skip
FEATURE_CHECKS = {
    "expected_columns": "The store has exactly the catalog's columns.",
    "one_row_per_application": "One row per application of the month, no duplicates.",
    "no_infinite_values": "No ±inf in any numeric feature.",
    "value_rules": "pandera contract of the store (features/contract.py): nullability, finite "
    "values and each feature's range (shares in [0, 1], counts >= 0, day offsets <= 0, no "
    "sentinel), naming feature, rule and applicant.",
}
QUALITY_CHECK = "distribution_vs_reference"
FINDING_COLUMNS = {
    "feature": "string", "measure": "string", "reference": "float", "current": "float",
    "shift_in_reference_sds": "float",
}  # fmt: skip
QUALITY_DESCRIPTION = (
    "Warning (never blocking): a feature's null rate, mean or range moved far from the "
    "champion's training rows (limits: the feature_quality resource)."
)


def _quality_result(findings: list[dict] | None, champion: str | None) -> dg.AssetCheckResult:
    if findings is None:
        return dg.AssetCheckResult(
            check_name=QUALITY_CHECK,
            passed=True,
            description=f"no reference: {champion or 'no champion yet'}",
        )
    moved = sorted({f["feature"] for f in findings})
    return dg.AssetCheckResult(
        check_name=QUALITY_CHECK,
        passed=not findings,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(moved)} feature(s) moved from the {champion} training rows: "
            + ", ".join(moved[:10])
            if findings
            else f"every feature within limits of the {champion} training rows"
        ),
        metadata={
            "findings": md.table(findings, FINDING_COLUMNS),
            "reference": champion,
        },
    )


@dg.asset(
    key="feature_store",
    group_name="features",
    partitions_def=monthly_partitions,
    automation_condition=follows_its_month(),
    deps=[raw_key(t) for t in TABLES],
    check_specs=[
        *(
            dg.AssetCheckSpec(name, asset="feature_store", blocking=True, description=text)
            for name, text in FEATURE_CHECKS.items()
        ),
        dg.AssetCheckSpec(QUALITY_CHECK, asset="feature_store", description=QUALITY_DESCRIPTION),
    ],
    pool=WAREHOUSE_POOL,
    retry_policy=MONTHLY_RETRY,
    kinds={"duckdb", "sql"},
    # A schema bump makes every month built under the old version stale in the UI; their rows
    # stay readable in features.feature_store_v<old> until re-materialised.
    code_version=str(FEATURE_SCHEMA_VERSION),
    metadata={"dagster/column_schema": md.column_schema(STORE_TYPES, feature_schema())},
    description=f"Per-applicant features (DuckDB SQL over raw/*) in `{STORE}`, "
    f"schema version {FEATURE_SCHEMA_VERSION}, {len(FEATURES)} features.",
)
def feature_store(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    mlflow_tracking: MlflowResource,
    feature_quality: FeatureQuality,
):
    month = context.partition_key
    champion = mlflow_tracking.registry().champion()
    limits = feature_quality.limits()
    with warehouse.get_connection() as con:
        try:
            build = build_month(con, month)
        except FeatureSqlError as error:  # the SQL, not the moment: a retry would fail alike
            raise dg.Failure(str(error), allow_retries=False) from error
        findings = (
            quality_findings(
                con, month, champion.tags["data_sha256"], list(NUMERIC_FEATURES), limits
            )
            if build.published and champion is not None
            else None
        )
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
    reference = f"champion v{champion.version}" if champion is not None else None
    yield _quality_result(findings, reference)
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
