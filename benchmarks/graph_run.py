"""Run stages of the asset graph through the real Dagster code path, one after the other.

Each stage's assets are executed with the code location's implicit asset job on the instance in
DAGSTER_HOME (this repo's ``dagster.yaml``: SQLite storage under the data dir), with every check,
as a backfill of all months would run them: one run per partition for monthly assets, and one
run for the whole range where the asset's backfill policy is a single run (``batch_scores``),
exactly as ``dagster asset materialize --partition-range`` would.
All stages share one process, as a backfill in one Python process would: the code location is
loaded once. Each finished stage prints one JSON line (its start and end on the wall clock,
per-run seconds and metadata); the last line carries this process's VmHWM.

    python -m benchmarks.graph_run ingest,features --months 2024-01,2024-02
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from benchmarks.processes import own_peak_rss_gb
from creditplatform.homecredit import TABLES

RAW_KEYS = [f"raw/{spec.asset_name}" for spec in TABLES.values()]

MONTHLY, RANGE = "monthly", "range"  # one run per month; one run for the range

# stage -> (asset keys, how its months are run: MONTHLY, RANGE or None when unpartitioned)
STAGES: dict[str, tuple[list[str], str | None]] = {
    "ingest": (RAW_KEYS, MONTHLY),
    "features": (["feature_store"], MONTHLY),
    "splits": (["training_splits"], None),
    "train": (["candidate_model"], None),
    "evaluate": (["evaluation_report"], None),
    "promote": (["registry_promotion"], None),
    "drift": (["drift_report"], MONTHLY),
    "score": (["batch_scores"], RANGE),
}


def _runs(months: list[str], mode: str | None) -> list[tuple[str | None, dict]]:
    """(label, execute_in_process arguments) of each run a stage takes."""
    if mode == MONTHLY:
        return [(month, {"partition_key": month}) for month in months]
    if mode == RANGE:
        tags = {"dagster/asset_partition_range_start": months[0],
                "dagster/asset_partition_range_end": months[-1]}  # fmt: skip
        return [(f"{months[0]}...{months[-1]}", {"tags": tags})]
    return [(None, {})]


def _metadata(result, key) -> dict:
    """Plain values of the materialisation metadata of ``key`` (numbers and text only)."""
    events = [
        e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key
    ]
    if not events:
        return {}
    metadata = events[-1].materialization.metadata
    return {
        name: value.value
        for name, value in metadata.items()
        if isinstance(value.value, int | float | str) and not isinstance(value.value, bool)
    }


def run_stage(runner, stage: str, months: list[str]) -> dict:
    import dagster as dg

    keys, mode = STAGES[stage]
    job = runner.defs.resolve_implicit_global_asset_job_def().name
    selection = [dg.AssetKey.from_user_string(k) for k in keys]
    runs = []
    started = time.time()
    for partition, arguments in _runs(months, mode):
        run_started = time.perf_counter()
        result = runner.run(
            job, f"{stage} {partition or ''}".strip(), asset_selection=selection, **arguments
        )
        if not result.success:
            raise SystemExit(f"{stage} {partition}: run {result.run_id} failed")
        runs.append(
            {
                "partition": partition,
                "seconds": round(time.perf_counter() - run_started, 3),
                "metadata": _metadata(result, keys[-1]),
            }
        )
    return {"stage": stage, "started": started, "ended": time.time(), "runs": runs}


def run_stages(stages: list[str], months: list[str]) -> None:
    import dagster as dg

    from creditplatform.cli import ensure_dagster_env
    from creditplatform.definitions import build_definitions
    from creditplatform.pipeline import Runner
    from creditplatform.settings import load_settings

    ensure_dagster_env()
    defs = build_definitions(load_settings())
    say = lambda text, **_: print(text, file=sys.stderr, flush=True)  # noqa: E731
    with dg.DagsterInstance.get() as instance:
        runner = Runner(defs, instance, say)
        for stage in stages:
            say(f"stage {stage} ...")
            print(json.dumps(run_stage(runner, stage, months)), flush=True)
    print(json.dumps({"peak_rss_gb": own_peak_rss_gb()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stages", help=f"comma-separated, from {', '.join(STAGES)}")
    parser.add_argument("--months", default="", help="comma-separated YYYY-MM")
    args = parser.parse_args()
    unknown = set(args.stages.split(",")) - set(STAGES)
    if unknown:
        parser.error(f"unknown stage(s): {', '.join(sorted(unknown))}")
    run_stages(args.stages.split(","), [m for m in args.months.split(",") if m])


if __name__ == "__main__":
    main()
