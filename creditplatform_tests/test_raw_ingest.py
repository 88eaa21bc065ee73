"""raw/* on a real Dagster instance and a real DuckDB file: good months publish, bad ones cannot.

Every bad-input case starts from a warehouse where 2024-01 is already published, corrupts one
landing file, re-runs the month and proves: the run fails; the check that owns the problem
fails naming table, column and rule; no raw partition and no downstream asset materialises; and
the warehouse still holds the previous good rows.
"""

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from creditplatform.contracts.report import (
    COLUMNS_AND_TYPES,
    FOREIGN_KEYS,
    PRIMARY_KEY,
    VALUE_RULES,
)
from creditplatform.defs.partitions import monthly_partitions
from creditplatform.defs.raw import check_names, raw_key, raw_tables
from creditplatform.defs.resources import PlatformPaths, Warehouse
from creditplatform.homecredit import TABLES

MONTH = "2024-01"


@dg.asset(
    deps=[raw_key("application"), raw_key("bureau_balance")], partitions_def=monthly_partitions
)
def downstream_reader(context: dg.AssetExecutionContext, paths: PlatformPaths):
    """Stands for every later asset: reads the published month from the warehouse."""
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        rows = con.execute(
            "SELECT count(*) FROM raw.application WHERE month = ?", [context.partition_key]
        ).fetchone()[0]
    return dg.MaterializeResult(metadata={"rows": rows})


def run_month(data_dir: Path, month: str = MONTH) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [raw_tables, downstream_reader],
        partition_key=month,
        instance=dg.DagsterInstance.ephemeral(),
        resources={
            "paths": PlatformPaths(data_dir=str(data_dir)),
            "warehouse": Warehouse(database=str(data_dir / "warehouse.duckdb")),
        },
        raise_on_error=False,
    )


def warehouse_state(data_dir: Path, month: str = MONTH) -> dict[str, int]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return {
            name: con.execute(
                f'SELECT count(*) FROM raw."{spec.asset_name}" WHERE month = ?', [month]
            ).fetchone()[0]
            for name, spec in TABLES.items()
        }


def test_generated_month_materialises_with_all_checks_passing(small_history, tmp_path):
    data = tmp_path / "fresh"
    (data / "landing").mkdir(parents=True)
    (data / "landing" / MONTH).symlink_to(small_history / "landing" / MONTH)
    result = run_month(data)
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    expected = sum(len(check_names(spec)) for spec in TABLES.values())
    assert len(evaluations) == expected == 33  # 7 row counts; installments has no unique key
    assert all(e.passed for e in evaluations)
    materialised = {e.asset_key: e for e in result.get_asset_materialization_events()}
    assert set(materialised) == {raw_key(t) for t in TABLES} | {dg.AssetKey("downstream_reader")}
    app_meta = materialised[raw_key("application")].materialization.metadata
    assert app_meta["rows"].value == 400
    assert len(app_meta["sha256"].value) == 64
    assert 0 < app_meta["label_rate"].value < 0.3
    assert "EXT_SOURCE_1" in app_meta["null_counts"].value
    assert warehouse_state(data)["application"] == 400
    reader = materialised[dg.AssetKey("downstream_reader")].materialization.metadata
    assert reader["rows"].value == 400


def test_republishing_a_month_replaces_it_atomically(data_copy):
    before = warehouse_state(data_copy)
    result = run_month(data_copy)
    assert result.success
    assert warehouse_state(data_copy) == before  # same month again: replaced, not appended
    with duckdb.connect(str(data_copy / "warehouse.duckdb"), read_only=True) as con:
        loads = con.execute("SELECT count(*) FROM raw.ingestions WHERE month = ?", [MONTH])
        assert loads.fetchone()[0] == 2 * len(TABLES)  # both loads are audited


def _rewrite(path: Path, edit) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(edit(lines)), encoding="utf-8")


def _set_field(line: str, header: list[str], column: str, value: str) -> str:
    import csv
    import io

    fields = next(csv.reader([line.rstrip("\n")]))
    fields[header.index(column)] = value
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    return buffer.getvalue()


def _edit_cell(table: str, column: str, value: str, row: int = 3):
    def apply(folder: Path) -> None:
        path = folder / TABLES[table].file_name

        def edit(lines):
            header = lines[0].rstrip("\n").split(",")
            lines[row] = _set_field(lines[row], header, column, value)
            return lines

        _rewrite(path, edit)

    return apply


def _drop_column(table: str, column: str):
    def apply(folder: Path) -> None:
        path = folder / TABLES[table].file_name
        frame = __import__("pandas").read_csv(path, dtype=str, keep_default_na=False)
        frame.drop(columns=[column]).to_csv(path, index=False)

    return apply


def _add_column(table: str, column: str):
    def apply(folder: Path) -> None:
        path = folder / TABLES[table].file_name
        frame = __import__("pandas").read_csv(path, dtype=str, keep_default_na=False)
        frame[column] = "1"
        frame.to_csv(path, index=False)

    return apply


def _duplicate_applicant(folder: Path) -> None:
    def edit(lines):
        first_id = lines[1].split(",")[0]
        rest = lines[2].split(",", 1)[1]
        lines[2] = f"{first_id},{rest}"
        return lines

    _rewrite(folder / "application.csv", edit)


def _empty_file(folder: Path) -> None:
    (folder / "credit_card_balance.csv").write_bytes(b"")


def _truncate_last_line(folder: Path) -> None:
    path = folder / "installments_payments.csv"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 25])


def _not_utf8(folder: Path) -> None:
    path = folder / "previous_application.csv"
    lines = path.read_bytes().split(b"\n")
    lines[4] = lines[4].replace(b"XAP", b"X\xe9P", 1)
    path.write_bytes(b"\n".join(lines))


BAD_INPUTS = {
    "missing_column": (_drop_column("application", "AMT_ANNUITY"), "application",
                       COLUMNS_AND_TYPES, "AMT_ANNUITY", "column_present"),
    "extra_column": (_add_column("bureau", "EXTRA_SCORE"), "bureau",
                     COLUMNS_AND_TYPES, "EXTRA_SCORE", "no_unexpected_column"),
    "text_in_numeric": (_edit_cell("application", "AMT_CREDIT", "abc"), "application",
                        COLUMNS_AND_TYPES, "AMT_CREDIT", "parses_as_float64"),
    "duplicate_sk_id_curr": (_duplicate_applicant, "application",
                             PRIMARY_KEY, "SK_ID_CURR", "unique(SK_ID_CURR)"),
    "orphan_sk_id_bureau": (_edit_cell("bureau_balance", "SK_ID_BUREAU", "999999999"),
                            "bureau_balance", FOREIGN_KEYS, "SK_ID_BUREAU",
                            "references bureau(SK_ID_BUREAU)"),
    "target_2": (_edit_cell("application", "TARGET", "2"), "application",
                 VALUE_RULES, "TARGET", "isin([0, 1])"),
    "negative_income": (_edit_cell("application", "AMT_INCOME_TOTAL", "-135000.0"),
                        "application", VALUE_RULES, "AMT_INCOME_TOTAL",
                        "greater_than_or_equal_to(0)"),
    "empty_file": (_empty_file, "credit_card_balance", COLUMNS_AND_TYPES, "(file)",
                   "file_not_empty"),
    "truncated_last_line": (_truncate_last_line, "installments_payments", COLUMNS_AND_TYPES,
                            None, "row_has_all_fields"),
    "not_utf8": (_not_utf8, "previous_application", COLUMNS_AND_TYPES, None, "utf8_encoded"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_fails_its_check_and_publishes_nothing(data_copy, case):
    corrupt, table, check, column, rule = BAD_INPUTS[case]
    good = warehouse_state(data_copy)
    corrupt(data_copy / "landing" / MONTH)

    result = run_month(data_copy)

    assert not result.success
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    mine = [e for e in failed if e.asset_key == raw_key(table) and e.check_name == check]
    assert mine, (
        f"expected {table}.{check} to fail; failed: {[(e.asset_key, e.check_name) for e in failed]}"
    )
    evaluation = mine[0]
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.blocking
    assert rule in evaluation.metadata["rules"].value
    assert TABLES[table].name in evaluation.description and rule in evaluation.description
    if column:
        assert column in evaluation.metadata["failing_columns"].value
    violations = evaluation.metadata["violations"].value
    assert violations and all(len(v["failure_cases"]) <= 20 for v in violations)
    assert violations[0]["failure_cases"], "the offending rows are in the metadata"
    assert result.get_asset_materialization_events() == []  # neither raw/* nor downstream
    assert warehouse_state(data_copy) == good  # the previous good month is still what is read


def test_month_without_success_marker_is_not_ingested(data_copy):
    good = warehouse_state(data_copy)
    (data_copy / "landing" / MONTH / "_SUCCESS").unlink()
    result = run_month(data_copy)
    assert not result.success
    failure = result.failure_data_for_node("raw_tables")
    message = failure.user_failure_data.description
    assert MONTH in message and "_SUCCESS" in message
    assert result.get_asset_check_evaluations() == []
    assert result.get_asset_materialization_events() == []
    assert warehouse_state(data_copy) == good


def test_missing_file_names_the_file_and_month(data_copy):
    (data_copy / "landing" / MONTH / "bureau.csv").unlink()
    result = run_month(data_copy)
    message = result.failure_data_for_node("raw_tables").user_failure_data.description
    assert "bureau.csv" in message and MONTH in message
