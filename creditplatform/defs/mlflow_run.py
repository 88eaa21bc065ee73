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

import dagster as dg
import mlflow

from creditplatform.defs.resources import MlflowResource

with warnings.catch_warnings():  # the package marks its hook and resource beta; we pin it
    warnings.simplefilter("ignore", dg.BetaWarning)
    from dagster_mlflow import end_mlflow_on_run_finished, mlflow_tracking
    from dagster_mlflow.resources import MlFlow

__all__ = ["MlFlow", "end_mlflow_on_run_finished", "mlflow_run"]


def _end_if_open(context: dg.InitResourceContext, run_id: str) -> None:
    """End the run if no hook did: FAILED when a step of the Dagster run failed."""
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
    def resource(context: dg.InitResourceContext) -> Iterator[MlFlow]:
        registry = tracking.registry()
        owner = registry.before_run()
        run_name = f"{context.run.job_name}-{context.run.run_id[:8]}" if context.run else ""
        config = {
            "experiment_name": registry.experiment,
            "extra_tags": {**owner, "mlflow.runName": run_name},
        }
        start = mlflow_tracking.resource_fn
        package = start(context.replace_config(config))  # type: ignore[call-arg]  # typed as taking no context, called with one
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
