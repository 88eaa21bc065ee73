"""A month's ingest and derived assets retry, bounded, when their step fails for a passing
reason (another process holding the warehouse file), and fail for good, without retrying, when
the failure is final (no features for the month); a failed month is then listed by ``status``."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from creditplatform.cli import _month_statuses
from creditplatform.definitions import build_definitions
from creditplatform.defs.raw import raw_key
from creditplatform.homecredit import TABLES
from creditplatform.settings import load_settings
from creditplatform.status import month_gaps
from creditplatform.warehouse.landing import land_month
from creditplatform_tests.conftest import point_at

# Holds the warehouse open for writing until told to let go (or 10 minutes pass).
HOLD = """
import os, sys, time, duckdb
con = duckdb.connect(sys.argv[1])
open(sys.argv[2], "w").close()
deadline = time.monotonic() + 600
while not os.path.exists(sys.argv[3]) and time.monotonic() < deadline:
    time.sleep(0.2)
"""


def _release_after_first_retry(release: Path, stop: threading.Event) -> None:
    """Let the holder go once the newest run has a step up for retry: the lock caused it."""
    with dg.DagsterInstance.get() as instance:
        while not stop.is_set():
            runs = instance.get_runs(limit=1)
            if (
                runs
                and instance.get_records_for_run(
                    runs[0].run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY
                ).records
            ):
                break
            time.sleep(0.5)
    release.touch()


@pytest.fixture
def platform(platform_base, _isolated_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    base, source = platform_base
    shutil.copytree(base, _isolated_data_dir)
    point_at(monkeypatch, _isolated_data_dir)
    # 2024-03 lands but is not ingested: it has no features, which no retry can fix.
    land_month(source, _isolated_data_dir / "landing", "2024-03")
    return _isolated_data_dir


def _materialize(month: str, keys: list[dg.AssetKey]) -> dg.ExecuteInProcessResult:
    defs = build_definitions(load_settings())
    with dg.DagsterInstance.get() as instance:
        return defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=keys, partition_key=month,
            raise_on_error=False,
        )  # fmt: skip


def _retries(result: dg.ExecuteInProcessResult) -> int:
    return sum(e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY for e in result.all_events)


@pytest.mark.slow  # dagster-duckdb's own lock backoff runs out first: about 100 s
@pytest.mark.parametrize(
    ("month", "keys"),
    [("2024-03", [raw_key(t) for t in TABLES]), ("2024-02", [dg.AssetKey("batch_scores")])],
    ids=["ingest", "scores"],
)
def test_a_month_held_by_another_process_is_retried_until_it_is_free(
    platform: Path, tmp_path, month: str, keys: list[dg.AssetKey]
):
    holding, release = tmp_path / "holding", tmp_path / "release"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(platform / "warehouse.duckdb"), str(holding), str(release)]
    )
    stop = threading.Event()
    watcher = threading.Thread(target=_release_after_first_retry, args=(release, stop))
    try:
        deadline = time.monotonic() + 120
        while not holding.exists():
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        watcher.start()
        result = _materialize(month, keys)
    finally:
        stop.set()
        release.touch()
        holder.wait(timeout=120)
    assert result.success  # the first attempt met the lock; a retry found the file free
    assert _retries(result) >= 1


def test_a_final_failure_is_not_retried_and_status_lists_the_month(platform: Path):
    result = _materialize("2024-03", [dg.AssetKey("drift_report")])
    assert not result.success and _retries(result) == 0
    with dg.DagsterInstance.get() as instance:
        landed, statuses = _month_statuses(instance, load_settings())
    assert month_gaps(landed, statuses, True)["failed"] == {"drift_report": ["2024-03"]}
