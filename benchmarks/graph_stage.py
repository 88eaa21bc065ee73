"""Run one stage of the asset graph through the real Dagster code path, in its own process.

The stage's assets are executed with the code location's implicit asset job on the instance in
DAGSTER_HOME (this repo's ``dagster.yaml``: SQLite storage under the data dir), one run per
partition for monthly assets, exactly as ``dagster asset materialize`` would, with every check.
The last stdout line is JSON: per-run seconds and metadata, and this process's VmHWM.

    python -m benchmarks.graph_stage ingest --months 2024-01,2024-02
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from benchmarks.processes import own_peak_rss_gb
from creditplatform.homecredit import TABLES

RAW_KEYS = [f"raw/{spec.asset_name}" for spec in TABLES.values()]

# stage -> (asset keys, partitioned by month?)
STAGES: dict[str, tuple[list[str], bool]] = {
    "ingest": (RAW_KEYS, True),
    "features": (["feature_store"], True),
    "splits": (["training_splits"], False),
    "train": (["candidate_model"], False),
    "evaluate": (["evaluation_report"], False),
    "promote": (["registry_promotion"], False),
    "drift": (["drift_report"], True),
    "score": (["batch_scores"], True),
}


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


def run_stage(stage: str, months: list[str]) -> dict:
    import dagster as dg

    from creditplatform.cli import ensure_dagster_env
    from creditplatform.definitions import build_definitions
    from creditplatform.pipeline import Runner
    from creditplatform.settings import load_settings

    ensure_dagster_env()
    keys, monthly = STAGES[stage]
    defs = build_definitions(load_settings())
    job = defs.resolve_implicit_global_asset_job_def().name
    selection = [dg.AssetKey.from_user_string(k) for k in keys]
    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    runs = []
    with dg.DagsterInstance.get() as instance:
        runner = Runner(defs, instance, say)
        for partition in months if monthly else [None]:
            started = time.perf_counter()
            result = runner.run(
                job, f"{stage} {partition or ''}".strip(),
                asset_selection=selection, partition_key=partition,
            )  # fmt: skip
            if not result.success:
                raise SystemExit(f"{stage} {partition}: run {result.run_id} failed")
            runs.append(
                {
                    "partition": partition,
                    "seconds": round(time.perf_counter() - started, 3),
                    "metadata": _metadata(result, keys[-1]),
                }
            )
    return {"stage": stage, "runs": runs, "peak_rss_gb": own_peak_rss_gb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stage", choices=list(STAGES))
    parser.add_argument("--months", default="", help="comma-separated YYYY-MM")
    args = parser.parse_args()
    print(json.dumps(run_stage(args.stage, [m for m in args.months.split(",") if m])))


if __name__ == "__main__":
    main()
