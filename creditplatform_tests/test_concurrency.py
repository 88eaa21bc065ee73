"""One writer at a time by construction: two real ingest processes at once both land their
month (the `warehouse` pool serialises them through the instance), and every step that opens
the warehouse or moves the champion alias declares the pool."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from creditplatform.defs.manual_promotion import manual_promotion_job
from creditplatform.defs.resources import WAREHOUSE_POOL
from creditplatform.settings import REPO_ROOT, load_settings
from creditplatform.synthetic.generate import GenerateOptions, generate_history


def test_every_warehouse_step_declares_the_pool():
    from creditplatform.definitions import defs

    steps = [*defs.assets, *defs.asset_checks]
    names = {s.node_def.name for s in steps}
    assert {"raw_tables", "registry_promotion", "training_splits_training_data_unchanged"} <= names
    for step in steps:
        assert step.node_def.pool == WAREHOUSE_POOL, f"{step.node_def.name}: {step.node_def.pool}"
    ops = manual_promotion_job.graph.node_defs
    assert [op.pool for op in ops] == [WAREHOUSE_POOL]
    config = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    assert config["concurrency"]["pools"] == {"default_limit": 1, "granularity": "op"}


@pytest.mark.slow
def test_two_ingest_processes_at_once_both_land(_isolated_data_dir: Path):
    generate_history(_isolated_data_dir, GenerateOptions(months=2, applications_per_month=3000,
                                                         seed=3))  # fmt: skip
    env = {**os.environ, "DAGSTER_HOME": str(REPO_ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "creditplatform.cli", "ingest", "--month", month],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO_ROOT,
        )
        for month in ("2024-01", "2024-02")
    ]
    outputs = [p.communicate()[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    with duckdb.connect(str(load_settings().warehouse_path), read_only=True) as con:
        counts = con.execute(
            "SELECT month, count(*) FROM raw.application GROUP BY 1 ORDER BY 1"
        ).fetchall()
        features = con.execute(
            "SELECT count(DISTINCT month) FROM features.feature_store"
        ).fetchone()[0]
    assert counts == [("2024-01", 3000), ("2024-02", 3000)]
    assert features == 2
    os.environ.setdefault("DAGSTER_HOME", str(REPO_ROOT))
    with dg.DagsterInstance.get() as instance:
        assert instance.event_log_storage.supports_global_concurrency_limits
        # The steps claimed slots of the pool (created at its default limit of 1 on first use).
        assert instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).slot_count == 1
        assert {r.status for r in instance.get_runs()} == {dg.DagsterRunStatus.SUCCESS}
