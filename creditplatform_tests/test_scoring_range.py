"""A backfill of many months scores them in one run (``batch_scores``' single-run backfill
policy), from the plain ``dagster`` CLI, with the PDs a run per month gives."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from creditplatform.settings import REPO_ROOT
from creditplatform_tests.conftest import point_at

MONTHS = ["2024-01", "2024-02"]


def _scores(data: Path) -> dict[tuple[str, int], float]:
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT month, SK_ID_CURR, pd FROM scores.batch_scores").fetchall()
    return {(month, applicant): pd for month, applicant, pd in rows}


def test_a_partition_range_is_scored_in_one_run_like_month_by_month(
    platform_base, _isolated_data_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    base, _ = platform_base
    shutil.copytree(base, _isolated_data_dir)
    point_at(monkeypatch, _isolated_data_dir)
    with duckdb.connect(str(_isolated_data_dir / "warehouse.duckdb"), read_only=True) as con:
        applications = dict(
            con.execute(
                "SELECT month, count(*) FROM features.feature_store GROUP BY month"
            ).fetchall()
        )
    by_month = _scores(_isolated_data_dir)  # the base scored 2024-02 in a run of its own

    done = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "asset", "materialize",
         "-m", "creditplatform.definitions", "--select", "batch_scores",
         "--partition-range", f"{MONTHS[0]}...{MONTHS[-1]}"],
        env=dict(os.environ), capture_output=True, text=True, cwd=REPO_ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]

    scores = _scores(_isolated_data_dir)
    assert {m: sum(1 for k in scores if k[0] == m) for m in MONTHS} == applications
    assert all(scores[k] == pytest.approx(v, abs=1e-12) for k, v in by_month.items())
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_run_records(
            dg.RunsFilter(tags={"dagster/asset_partition_range_start": MONTHS[0]})
        )
        assert len(runs) == 1 and runs[0].dagster_run.status == dg.DagsterRunStatus.SUCCESS
        events = instance.fetch_materializations(dg.AssetKey("batch_scores"), limit=10).records
    ranged = [e for e in events if e.run_id == runs[0].dagster_run.run_id]
    assert sorted(e.partition_key for e in ranged) == MONTHS
    metadata = ranged[0].asset_materialization.metadata
    assert metadata["months_in_run"].value == "2024-01...2024-02"
    assert metadata["rows"].value == sum(applications.values())
    per_month = {r.data["month"]: r.data["rows"] for r in metadata["months"].value.records}
    assert per_month == applications
