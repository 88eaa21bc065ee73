"""raw/* on a real Dagster instance and a real DuckDB file: good months publish, bad ones cannot.

Every bad-input case (from the bad-landing suite) starts from a warehouse where 2024-01 is
already published, corrupts one landing file, re-runs the month and proves: the run fails; the
check that owns the problem fails naming table, column, rule and line; no raw partition and no
downstream asset materialises; and the warehouse still holds the previous good rows.
"""

import shutil
from contextlib import closing
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from creditplatform.defs.partitions import monthly_partitions
from creditplatform.defs.raw import check_names, raw_key, raw_tables
from creditplatform.defs.resources import Warehouse
from creditplatform.homecredit import TABLES
from creditplatform_tests.conftest import resources_at
from creditplatform_tests.landing_cases import BAD

MONTH = "2024-01"


@dg.asset(
    deps=[raw_key("application"), raw_key("bureau_balance")], partitions_def=monthly_partitions
)
def downstream_reader(context: dg.AssetExecutionContext, warehouse: Warehouse):
    """Stands for every later asset: reads the published month from the warehouse."""
    with warehouse.location().connect(read_only=True) as con:
        rows = con.execute(
            "SELECT count(*) FROM raw.application WHERE month = ?", [context.partition_key]
        ).fetchone()[0]
    return dg.MaterializeResult(metadata={"rows": rows})


def run_month(data_dir: Path, month: str = MONTH) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [raw_tables, downstream_reader],
        partition_key=month,
        instance=dg.DagsterInstance.ephemeral(),
        resources={key: resources_at(data_dir)[key] for key in ("paths", "warehouse")},
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


# One case per rule class from the bad-landing suite, seen here as Dagster check results.
CHECKED_CASES = [
    "missing_column", "extra_column", "text_in_float", "decimal_in_int", "duplicate_applicant",
    "orphan_bureau_balance", "mismatched_key_pair", "target_2", "nan_literal", "empty_file",
    "header_only_child", "truncated_last_line", "latin1_byte",
]  # fmt: skip


@pytest.mark.parametrize("case", CHECKED_CASES)
def test_bad_input_fails_its_check_and_publishes_nothing(data_copy, case):
    bad = BAD[case]
    good = warehouse_state(data_copy)
    bad.spoil(data_copy / "landing" / MONTH)

    result = run_month(data_copy)

    assert not result.success
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    mine = [
        e for e in failed
        if e.asset_key == raw_key(bad.table)
        and any(bad.rule in rule for rule in e.metadata["rules"].value)
    ]  # fmt: skip
    assert mine, f"expected {bad.table} {bad.rule}; failed: {[e.description for e in failed]}"
    evaluation = mine[0]
    assert evaluation.check_name in check_names(TABLES[bad.table])
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.blocking
    assert bad.table in evaluation.description and bad.rule in evaluation.description
    if bad.column:
        assert bad.column in evaluation.metadata["failing_columns"].value
    violations = evaluation.metadata["violations"].value
    assert violations and all(len(v["failure_cases"]) <= 20 for v in violations)
    assert violations[0]["failure_cases"], "the offending rows are in the metadata"
    if bad.line:
        lines = [c.get("line") for v in violations for c in v["failure_cases"]]
        assert bad.line in lines
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


def test_bom_is_accepted_and_recorded_from_a_path_sql_must_quote(small_history, tmp_path):
    """A byte-order mark (real exports carry one) lands and is recorded; a data dir whose
    name holds both quote characters reaches DuckDB as a bound or quoted value."""
    data = tmp_path / 'it\'s a "data" dir'
    shutil.copytree(small_history / "landing" / MONTH, data / "landing" / MONTH)
    app = data / "landing" / MONTH / "application.csv"
    app.write_bytes(b"\xef\xbb\xbf" + app.read_bytes())
    result = run_month(data)
    assert result.success
    meta = {
        e.asset_key: e.materialization.metadata for e in result.get_asset_materialization_events()
    }
    assert meta[raw_key("application")]["byte_order_mark"].value is True
    assert meta[raw_key("bureau")]["byte_order_mark"].value is False
    assert warehouse_state(data)["application"] == 400


@pytest.mark.parametrize("opener", ["location", "resource"])
def test_a_publish_leaves_earlier_row_groups_as_written(tmp_path, opener):
    """Writers' checkpoints append row groups instead of merging the trailing partial ones
    (rewriting old months slowed every publish, more as the tables grew)."""
    data = tmp_path / "data"
    warehouse = resources_at(data)["warehouse"]
    opened = (
        closing(warehouse.location().connect())
        if opener == "location"
        else warehouse.get_connection()
    )
    with opened as con:
        con.execute("CREATE TABLE t AS SELECT range AS i, 'a' || range AS s FROM range(1000)")
        con.execute("CHECKPOINT")
        con.execute("INSERT INTO t SELECT range, 'b' || range FROM range(1000)")
        con.execute("CHECKPOINT")
        groups = con.execute(
            "SELECT row_group_id, min(count) FROM pragma_storage_info('t') GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert groups == [(0, 1000), (1, 1000)]  # DuckDB's default vacuum merges them into one


def test_a_redelivered_month_leaves_no_dead_rows_behind(tmp_path):
    """Without the vacuum, a month that is re-delivered again and again (delete then insert, as
    a publish does) does not grow the file: each insert starts its own row groups, so the old
    rows' groups are wholly deleted and dropped at the checkpoint."""
    data = tmp_path / "data"
    location = resources_at(data)["warehouse"].location()

    def deliver(month: int) -> tuple[int, int]:
        with closing(location.connect()) as con:
            con.execute("BEGIN")
            con.execute("DELETE FROM t WHERE month = ?", [month])
            con.execute(
                "INSERT INTO t SELECT ?, random(), 'applicant ' || range FROM range(150000)",
                [month],
            )
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
            groups = con.execute(
                "SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('t')"
            ).fetchone()[0]
            used = con.execute("SELECT used_blocks FROM pragma_database_size()").fetchone()[0]
            return groups, used

    with closing(location.connect()) as con:
        con.execute("CREATE TABLE t (month INTEGER, x DOUBLE, s VARCHAR)")
    for month in range(4):
        groups, used = deliver(month)
    redelivered = [deliver(1 + k % 2) for k in range(8)]
    assert {g for g, _ in redelivered} == {groups}  # 2 row groups a month, never more
    assert max(u for _, u in redelivered) <= used + 2  # a block or two of slack, not a month


PRELOAD_PROBE = """
import sys
from pathlib import Path
import dagster as dg
from creditplatform.defs.raw import raw_tables
from creditplatform_tests.conftest import resources_at
assert "mlflow" not in sys.modules and "sklearn.ensemble" not in sys.modules
data = Path(sys.argv[1])
result = dg.materialize([raw_tables], partition_key="2024-01",
                        instance=dg.DagsterInstance.ephemeral(),
                        resources={k: resources_at(data)[k] for k in ("paths", "warehouse")})
assert result.success
from creditplatform import preload
assert preload._thread is not None, "the ingest step started no preload"
preload._thread.join()
print(sorted(m for m in preload.LATER_STEP_MODULES if m in sys.modules))
"""


def test_the_ingest_step_imports_the_later_steps_libraries_meanwhile(small_history, tmp_path):
    """A run process that ingests has MLflow, scikit-learn and skops imported by its ingest step
    (on a background thread), not by the first step that scores or reads the registry."""
    import subprocess
    import sys

    data = tmp_path / "fresh"
    (data / "landing").mkdir(parents=True)
    (data / "landing" / MONTH).symlink_to(small_history / "landing" / MONTH)
    done = subprocess.run(
        [sys.executable, "-c", PRELOAD_PROBE, str(data)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    from creditplatform.preload import LATER_STEP_MODULES

    assert done.stdout.strip().splitlines()[-1] == str(sorted(LATER_STEP_MODULES))


def test_an_ingest_times_its_phases(small_history, tmp_path):
    """Stage, contracts and publish each get wall and CPU seconds (the run log and
    ``benchmarks.ingest_speed`` report them: where a month's time goes)."""
    from creditplatform.warehouse.ingest import ingest_month

    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        result = ingest_month(con, small_history / "landing", MONTH)
    assert result.published
    assert list(result.phase_seconds) == ["stage", "contracts", "publish"]
    for phase in result.phase_seconds.values():
        assert phase["wall"] > 0 and phase["cpu"] >= 0
