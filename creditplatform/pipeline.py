"""Drive the jobs through the real Dagster instance in DAGSTER_HOME (what ``demo`` does).

Runs go through ``execute_in_process`` on the instance, so every run, check and
materialisation is recorded where ``make ui`` shows it.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable

import dagster as dg

from creditplatform.defs.resources import WAREHOUSE_POOL
from creditplatform.settings import Settings

STATE_DIRS = (
    "incoming", "landing", "truth", "mlflow", "reports", "dagster", "logs", "serving", "lake",
)  # fmt: skip
STATE_FILES = ("warehouse.duckdb", "warehouse.duckdb.wal", "clock.json")


def reset_data_dir(settings: Settings) -> None:
    """Remove generated state (never anything else) so a demo starts from nothing."""
    for name in STATE_DIRS:
        shutil.rmtree(settings.data_dir / name, ignore_errors=True)
    for name in STATE_FILES:
        (settings.data_dir / name).unlink(missing_ok=True)


def pool_holders(instance: dg.DagsterInstance, pool: str = WAREHOUSE_POOL) -> list[str]:
    """Which run steps hold the pool now: a CLI run will queue behind them, and says so."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    slots = storage.get_concurrency_info(pool).claimed_slots
    return [f"run {slot.run_id[:8]} ({slot.step_key})" for slot in slots]


def failure_messages(result: dg.ExecuteInProcessResult) -> list[tuple[str, str]]:
    """(step, message) per failed step: a ``Failure``'s description, else the error's text;
    a run that failed outside any step (e.g. while claiming its pool slot) gives its own."""
    found: list[tuple[str, str]] = []
    for event in result.all_events:
        if event.is_run_failure and not found:
            found.append(("run", event.message or "failed"))
        if not event.is_step_failure:
            continue
        data = event.step_failure_data
        user = data.user_failure_data
        text = user.description if user and user.description else None
        if text is None and data.error is not None:
            error = data.error
            while error.cause is not None:  # Dagster's wrapper names the op; the cause says why
                error = error.cause
            text = error.message.strip()  # "ExceptionClass: message"
        found.append((event.step_key or "?", text or "failed"))
    return found


class Runner:
    def __init__(
        self, defs: dg.Definitions, instance: dg.DagsterInstance, say: Callable[..., None]
    ):
        self.defs, self.instance, self.say = defs, instance, say

    def run(
        self, job: str, label: str, run_config: dict | None = None, **kwargs
    ) -> dg.ExecuteInProcessResult:
        """Run a job and say how it ended; a failed step is told by its own message.

        Dagster's console logger is kept to critical events: its step failures come with a
        framework stack trace printed twice, which buries the message a person acts on (the
        contract's table, column, rule and lines). The instance keeps every event.
        """
        started = time.perf_counter()
        for holder in pool_holders(self.instance):
            self.say(f"  {label}: waiting for the warehouse, held by {holder}")
        config = {
            **(run_config or {}),
            "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
        }
        result = self.defs.resolve_job_def(job).execute_in_process(
            instance=self.instance, raise_on_error=False, run_config=config, **kwargs
        )
        verdict = "ok" if result.success else "FAILED"
        seconds = time.perf_counter() - started
        self.say(
            f"  {label}: {verdict} ({seconds:.1f}s, run {result.run_id[:8]})",
            event="run", job=job, label=label, outcome=verdict, seconds=round(seconds, 2),
            run_id=result.run_id, partition=kwargs.get("partition_key"),
        )  # fmt: skip
        for step, message in failure_messages(result):
            self.say(f"    {step}: " + message.replace("\n", "\n    "))
        return result


class ClosedLoop:
    """Drives the sensors and the automation the way the daemon does, one tick per month.

    Each tick evaluates the real sensor and automation definitions against the real instance
    and executes the run requests they return, de-duplicated by run key as the daemon does.
    Cursors and run keys live in the instance (``sensor_state``), so a daemon started
    afterwards carries on from the same state instead of redoing the demo's work.
    """

    AUTOMATION = "automation_sensor"

    def __init__(self, runner: Runner, settings: Settings):
        from creditplatform.sensor_state import WORKSPACE, InstanceSensorState

        self.runner, self.settings = runner, settings
        self.state = InstanceSensorState(runner.instance, runner.defs, WORKSPACE)
        self.skips: dict[str, str] = {}  # each sensor's latest skip reason, for the timeline
        # What a person does right after the canary (the demo approves a held challenger); the
        # labels of the runs it made.
        self.after_canary: Callable[[], list[str]] = list

    def _tick(self, name: str) -> list[dg.RunRequest]:
        from creditplatform.sensor_state import tick_context

        sensor = self.runner.defs.resolve_sensor_def(name)
        context = tick_context(
            sensor,
            self.runner.instance,
            self.runner.defs.resources,
            cursor=self.state.cursor(name),
            definitions=self.runner.defs,
        )
        data = sensor.evaluate_tick(context)
        self.state.set_cursor(name, data.cursor)
        self.skips[name] = data.skip_message or ""
        return [r for r in data.run_requests or [] if not self.state.seen(name, str(r.run_key))]

    def _automation(self) -> list[str]:
        result = dg.evaluate_automation_conditions(
            defs=self.runner.defs,
            instance=self.runner.instance,
            cursor=self.state.automation_cursor(self.AUTOMATION),
        )
        self.state.set_automation_cursor(self.AUTOMATION, result.cursor)
        by_partition: dict[str | None, list[dg.AssetKey]] = {}
        for request in result.results:
            for subset_key in request.true_subset.expensively_compute_asset_partitions():
                by_partition.setdefault(subset_key.partition_key, []).append(subset_key.asset_key)
        labels = []
        job = self.runner.defs.resolve_implicit_global_asset_job_def()
        for partition, keys in sorted(by_partition.items(), key=lambda kv: str(kv[0])):
            names = ", ".join(sorted({k.to_user_string() for k in keys}))
            self.runner.run(
                job.name, f"automation {partition}: {names}",
                asset_selection=sorted(set(keys)), partition_key=partition,
            )  # fmt: skip
            labels.append(f"{names} {partition}")
        return labels

    def _execute(self, sensor: str, requests: list[dg.RunRequest], job: str) -> list[str]:
        from creditplatform.sensor_state import request_tags

        labels = []
        for request in requests:
            trigger = request.tags.get("creditplatform/trigger", "")
            label = f"{job} ({trigger or request.partition_key})"
            self.runner.run(
                job, label, partition_key=request.partition_key,
                tags=request_tags(sensor, request),
            )  # fmt: skip
            labels.append(label)
        return labels

    def _round(self) -> list[str]:
        """One daemon-like pass: landing, automation, the canary on new shadow scores,
        staleness, drift (automation again after a retrain, so a new champion's months follow
        at once); a label for every run executed."""
        runs = self._execute("landing_sensor", self._tick("landing_sensor"), "ingest_job")
        runs += self._automation()
        runs += self._execute("canary_sensor", self._tick("canary_sensor"), "rollout_job")
        runs += self.after_canary()
        for sensor in ("staleness_sensor", "drift_retrain_sensor"):
            retrained = self._execute(sensor, self._tick(sensor), "retrain_job")
            runs += retrained
            if retrained:
                runs += self._automation()
        return runs

    def month(self) -> list[str]:
        """The tick after a month lands; returns a label for every run it executed."""
        if self.state.automation_cursor(self.AUTOMATION) is None:
            # The daemon evaluates automation before anything lands; so must we, or the first
            # month's upstream update happens before the condition starts watching.
            self._automation()
        return self._round()

    def settle(self, rounds: int = 3) -> list[str]:
        """Tick everything again until nothing more is requested (at most ``rounds`` times).

        The last month's own runs are then seen by every cursor, so a daemon started after the
        demo finds nothing new.
        """
        runs: list[str] = []
        for _ in range(rounds):
            launched = self._round()
            runs += launched
            if not launched:
                break
        return runs
