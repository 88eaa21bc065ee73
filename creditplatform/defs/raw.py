"""``raw/<table>``: one step ingests a month of all seven tables behind blocking contracts.

The contracts run on a staging copy before anything is published, and the check results are
reported from the same step (while a month that passed is written, on a worker thread). When
any contract fails the step fails after reporting them: no raw partition is materialised,
nothing downstream runs, and the month keeps its previous good data. One step for the seven
tables makes the month atomic and keeps foreign keys checkable.

The step retries (bounded) when it fails for a passing reason: another process holding the
warehouse file, or a DuckLake commit that conflicted with a concurrent writer's. So a month
ingested from the CLI or ``dagster asset materialize`` survives them as a sensor's run does.
A failed contract or an unreadable landing folder is final and never retried.
"""

import json
from contextlib import closing

import dagster as dg

from creditplatform.contracts.report import (
    CHECK_DESCRIPTIONS,
    COLUMNS_AND_TYPES,
    ERROR,
    FOREIGN_KEYS,
    PRIMARY_KEY,
    ROW_COUNT,
    VALUE_RULES,
    TableReport,
)
from creditplatform.contracts.schemas import schema_for
from creditplatform.defs import metadata as md
from creditplatform.defs.partitions import monthly_partitions
from creditplatform.defs.resources import MONTHLY_RETRY, WAREHOUSE_POOL, PlatformPaths, Warehouse
from creditplatform.homecredit import TABLES, TableSpec
from creditplatform.preload import preload
from creditplatform.warehouse.ingest import MonthIngest, ingest_month_stages, raw_ref
from creditplatform.warehouse.landing import LandingError
from creditplatform.warehouse.month_data import forget_reports

RAW_GROUP = "raw"


def raw_key(table: str) -> dg.AssetKey:
    return dg.AssetKey([RAW_GROUP, TABLES[table].asset_name])


def check_names(spec: TableSpec) -> list[str]:
    names = [COLUMNS_AND_TYPES, ROW_COUNT, VALUE_RULES]
    if spec.primary_key:
        names.append(PRIMARY_KEY)
    if spec.foreign_keys:
        names.append(FOREIGN_KEYS)
    return names


def _check_specs() -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            name, asset=raw_key(table), blocking=True, description=CHECK_DESCRIPTIONS[name]
        )
        for table, spec in TABLES.items()
        for name in check_names(spec)
    ]


def _check_result(table: str, check: str, report: TableReport) -> dg.AssetCheckResult:
    violations = report.for_check(check)
    metadata: dict = {"file": dg.MetadataValue.path(report.path)}
    if violations:
        metadata["failing_columns"] = sorted({v.column or "(file)" for v in violations})
        metadata["rules"] = sorted({v.rule for v in violations})
        metadata["violations"] = dg.MetadataValue.json([v.as_metadata() for v in violations])
    # Only errors block the month; a check that found warnings alone is a WARN result.
    errors = any(v.severity == ERROR for v in violations)
    return dg.AssetCheckResult(
        asset_key=raw_key(table),
        check_name=check,
        passed=not violations,
        severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
        description="\n".join(v.message for v in violations[:5]) or None,
        metadata=metadata,
    )


def _check_results(result: MonthIngest):
    for table, report in result.reports.items():
        for check in check_names(TABLES[table]):
            if check in report.evaluated:
                yield _check_result(table, check, report)


def _contracts_failed(result: MonthIngest) -> dg.Failure:
    failed = {t: len(r.violations) for t, r in result.reports.items() if r.violations}
    return dg.Failure(
        description=result.failure_message(),
        metadata={"month": result.month, "violations_per_table": dg.MetadataValue.json(failed)},
        allow_retries=False,
    )


def _materialization(result: MonthIngest, table: str) -> dg.MaterializeResult:
    report, summary = result.reports[table], result.summaries.get(table)
    metadata: dict[str, dg.RawMetadataValue] = {
        "dagster/row_count": dg.MetadataValue.int(report.rows),
        "rows": dg.MetadataValue.int(report.rows),
        "sha256": report.sha256,
        "source_file": dg.MetadataValue.path(report.path),
        "table": raw_ref(table),
        "month": result.month,
        "null_counts": dg.MetadataValue.json(summary.null_counts if summary else {}),
        "byte_order_mark": dg.MetadataValue.bool(report.byte_order_mark),
    }
    if summary and summary.label_rate is not None:
        metadata["label_rate"] = dg.MetadataValue.float(float(summary.label_rate))
    return dg.MaterializeResult(asset_key=raw_key(table), metadata=metadata)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            raw_key(table),
            group_name=RAW_GROUP,
            description=f"Home Credit `{spec.file_name}` for one month, as landed, behind its "
            "contracts (DuckDB table "
            f"`{raw_ref(table)}`, one row per landed row plus the `month` column).",
            kinds={"duckdb"},
            metadata={
                "dagster/column_schema": md.column_schema(
                    {"month": "VARCHAR", **spec.duckdb_types()}, schema_for(table)
                )
            },
        )
        for table, spec in TABLES.items()
    ],
    check_specs=_check_specs(),
    partitions_def=monthly_partitions,
    pool=WAREHOUSE_POOL,
    retry_policy=MONTHLY_RETRY,
    name="raw_tables",
)
def raw_tables(context: dg.AssetExecutionContext, paths: PlatformPaths, warehouse: Warehouse):
    month = context.partition_key
    preload()  # the run's later steps' libraries, imported while DuckDB ingests
    try:
        with (
            warehouse.get_connection() as con,
            closing(ingest_month_stages(con, paths.landing_dir, month, context.run.run_id)) as st,
        ):
            checked = next(st)
            # A month that passed is being published meanwhile: Dagster records the results then.
            yield from _check_results(checked)
            if not checked.passed:
                raise _contracts_failed(checked)
            result = next(st)
    except LandingError as err:
        raise dg.Failure(
            description=str(err), metadata={"month": month}, allow_retries=False
        ) from err
    context.log.info(
        "month %s published: %s; seconds (wall, CPU of the process): %s",
        month,
        json.dumps({t: r.rows for t, r in result.reports.items()}),
        json.dumps(result.phase_seconds),
    )
    reports_removed = forget_reports(paths.reports_dir, month)
    if result.downstream_rows_removed or reports_removed:
        context.log.info(
            "month %s was delivered again: %d derived row(s) of the old delivery removed; "
            "features follow in this run, scores and drift when they next run",
            month,
            result.downstream_rows_removed,
        )
    for table in TABLES:
        yield _materialization(result, table)
