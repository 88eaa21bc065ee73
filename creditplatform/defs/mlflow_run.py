"""One MLflow run per Dagster run: dagster-mlflow's ``mlflow_tracking`` resource, with what the
package cannot do built around it.

From the package: the run itself. Its resource starts an MLflow run tagged ``dagster_run_id``
(or resumes the one a step of the same Dagster run started), makes it the process's active run
(``candidate_model`` logs its parameters, metrics and models into it; ``evaluation_report``
adds the test and out-of-time metrics and the report to the same run), and its
``end_mlflow_on_run_finished`` hook on ``retrain_job`` ends it FINISHED after the job's last
step, or FAILED when a step fails.

From us, around it: before the package starts a run, the experiment is created with the
platform's artifact root and runs a killed process left RUNNING are closed as FAILED
(``Registry.before_run``); the run carries this host and pid so the next one can do the same
for it; the fluent API is pointed at the store without exporting ``MLFLOW_TRACKING_URI`` (the
package's own ``mlflow_tracking_uri`` setting would export it and redirect every later
``load_settings()`` in the process). And where no hook runs (``dagster asset materialize``,
``materialize()``: Dagster's implicit asset job), the run is ended when the Dagster run's
resources are torn down, FAILED if any step failed: the package alone would leave it RUNNING
and active in the process. Every job runs in process (``definitions.py``), so the resource
lives exactly as long as the Dagster run.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import dagster as dg

from creditplatform.defs.resources import MlflowResource

__all__ = ["end_mlflow_on_run_finished", "mlflow_run"]


def _package() -> ModuleType:
    """dagster-mlflow, imported by the step that needs it: it imports MLflow (about a second),
    which loading the code location must not (every run worker, the UI and the daemon do)."""
    with warnings.catch_warnings():  # the package marks its hook and resource beta; we pin it
        warnings.simplefilter("ignore", dg.BetaWarning)
        import dagster_mlflow

    return dagster_mlflow


def _end_hook(context: dg.HookContext, events: list[dg.DagsterEvent]) -> Any:
    return _package().end_mlflow_on_run_finished.hook_fn(context, events)


# The package's hook, under its name and resource key, run by the package's own function.
end_mlflow_on_run_finished = dg.HookDefinition(
    name="end_mlflow_on_run_finished",
    hook_fn=_end_hook,
    required_resource_keys={"mlflow"},
    decorated_fn=_end_hook,
)


def _end_if_open(context: dg.InitResourceContext, run_id: str) -> None:
    """End the run if no hook did: FAILED when a step of the Dagster run failed."""
    import mlflow

    active = mlflow.active_run()
    if active is None or active.info.run_id != run_id:
        return
    failed = bool(
        context.instance
        and context.run
        and context.instance.get_records_for_run(
            context.run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE
        ).records
    )
    mlflow.end_run(status="FAILED" if failed else "FINISHED")


def mlflow_run(tracking: MlflowResource) -> dg.ResourceDefinition:
    """The ``mlflow`` resource: the package's run, readied and closed by us."""

    @dg.resource(
        description="dagster-mlflow's run of this Dagster run (creditplatform.defs.mlflow_run)"
    )
    def resource(context: dg.InitResourceContext) -> Iterator[Any]:
        import mlflow

        registry = tracking.registry()
        owner = registry.before_run()
        run_name = f"{context.run.job_name}-{context.run.run_id[:8]}" if context.run else ""
        config = {
            "experiment_name": registry.experiment,
            "extra_tags": {**owner, "mlflow.runName": run_name},
        }
        start = _package().mlflow_tracking.resource_fn
        package = start(context.replace_config(config))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.BetaWarning)
            run = next(package)
        active = mlflow.active_run()
        started = active.info.run_id if active else ""
        try:
            yield run
        finally:
            next(package, None)  # the package's teardown: FAILED on an exception in flight
        _end_if_open(context, started)

    return resource
