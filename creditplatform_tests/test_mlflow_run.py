"""One MLflow run per Dagster run (dagster-mlflow's resource and hook, readied and closed by
``defs/mlflow_run.py``): the retrain job's run holds the candidate's training and evaluation,
the package's hook ends it FINISHED or FAILED, and a run without the hook (asset materialize)
is ended all the same."""

from __future__ import annotations

import dagster as dg
import mlflow
import pytest

from creditplatform.cli import main
from creditplatform.definitions import build_definitions
from creditplatform.ml.registry import HOST_TAG, PID_TAG, Registry
from creditplatform.settings import load_settings

HOOK = "end_mlflow_on_run_finished"


def _latest_run(job: str) -> dg.DagsterRun:
    with dg.DagsterInstance.get() as instance:
        return instance.get_runs(dg.RunsFilter(job_name=job), limit=1)[0]


def _mlflow_runs(dagster_run_id: str) -> list[mlflow.entities.Run]:
    registry = Registry.for_settings(load_settings())
    return registry.client().search_runs(
        [registry.experiment_id()], f"tags.dagster_run_id = '{dagster_run_id}'"
    )


def _hook_steps(run_id: str) -> set[str]:
    """The steps after which Dagster ran the package's hook to completion."""
    with dg.DagsterInstance.get() as instance:
        records = instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.HOOK_COMPLETED
        ).records
    return {
        r.event_log_entry.step_key or ""
        for r in records
        if HOOK in (r.event_log_entry.dagster_event.message or "")
    }


def test_the_retrain_job_logs_training_and_evaluation_into_one_finished_run(platform):
    assert main(["retrain", "--reason", "one run per Dagster run"]) == 0
    run = _latest_run("retrain_job")
    (found,) = _mlflow_runs(run.run_id)
    assert found.info.status == "FINISHED"
    assert found.info.run_name == f"retrain_job-{run.run_id[:8]}"
    assert found.data.params["learning_rate"] == "0.05"  # candidate_model
    assert "valid_model_roc_auc" in found.data.metrics  # candidate_model
    assert (
        "test_roc_auc" in found.data.metrics and "oot_roc_auc" in found.data.metrics
    )  # evaluation
    assert {found.data.tags[HOST_TAG], found.data.tags[PID_TAG]}  # the next run can close it
    registry = Registry.for_settings(load_settings())
    assert registry.version(2).run_id == found.info.run_id  # the registered model's run
    artifacts = {a.path for a in registry.client().list_artifacts(found.info.run_id)}
    assert "evaluation" in artifacts  # the report, beside the run's logged models
    assert "registry_promotion" in _hook_steps(run.run_id)  # the job's last step
    assert mlflow.active_run() is None  # nothing left open in the process


def test_a_failed_training_step_fails_the_run_through_the_hook(platform):
    assert main(["retrain", "--param", "max_iter=0"]) != 0  # scikit-learn refuses it in fit
    run = _latest_run("retrain_job")
    (found,) = _mlflow_runs(run.run_id)
    assert found.info.status == "FAILED"
    assert "candidate_model" in _hook_steps(run.run_id)  # the package's hook ended it there
    assert mlflow.active_run() is None


@pytest.mark.parametrize("fail", [False, True], ids=["succeeds", "fails"])
def test_a_run_without_the_hook_is_ended_by_the_resource(platform, fail):
    """``dagster asset materialize`` / ``materialize()``: Dagster's implicit asset job has no
    hook, so the package alone would leave the run RUNNING and active in the process."""
    defs = build_definitions(load_settings())
    config = {"ops": {"candidate_model": {"config": {"max_iter": 0}}}} if fail else None
    selection = [dg.AssetKey(k) for k in ("training_splits", "candidate_model")]
    with dg.DagsterInstance.get() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=selection, run_config=config,
            raise_on_error=False,
        )  # fmt: skip
    assert result.success is not fail
    (found,) = _mlflow_runs(result.run_id)
    assert found.info.status == ("FAILED" if fail else "FINISHED")
    assert not _hook_steps(result.run_id)
    assert mlflow.active_run() is None
