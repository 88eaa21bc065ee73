"""Drive the jobs through the real Dagster instance in DAGSTER_HOME (what ``demo`` does).

Runs go through ``execute_in_process`` on the instance, so every run, check and
materialisation is recorded where ``make ui`` shows it.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable

import dagster as dg

from creditplatform.settings import Settings

STATE_DIRS = ("landing", "truth", "mlflow", "reports", "dagster")
STATE_FILES = ("warehouse.duckdb", "warehouse.duckdb.wal")


def reset_data_dir(settings: Settings) -> None:
    """Remove generated state (never anything else) so a demo starts from nothing."""
    for name in STATE_DIRS:
        shutil.rmtree(settings.data_dir / name, ignore_errors=True)
    for name in STATE_FILES:
        (settings.data_dir / name).unlink(missing_ok=True)


class Runner:
    def __init__(
        self, defs: dg.Definitions, instance: dg.DagsterInstance, say: Callable[[str], None]
    ):
        self.defs, self.instance, self.say = defs, instance, say

    def run(
        self, job: str, label: str, run_config: dict | None = None, **kwargs
    ) -> dg.ExecuteInProcessResult:
        """Run a job; the console shows warnings only (the instance keeps every event)."""
        started = time.perf_counter()
        config = {
            **(run_config or {}),
            "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        }
        result = self.defs.resolve_job_def(job).execute_in_process(
            instance=self.instance, raise_on_error=False, run_config=config, **kwargs
        )
        verdict = "ok" if result.success else "FAILED"
        self.say(
            f"  {label}: {verdict} ({time.perf_counter() - started:.1f}s, run {result.run_id[:8]})"
        )
        return result
