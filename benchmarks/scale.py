"""Home Credit scale: the whole graph, stage by stage, through the real Dagster code path.

1. Generate ``months + 1`` months (the child-table proportions of the schema file); the last
   month is held back for the incremental run. Generation is timed but is not part of the graph.
2. Run the stages in graph order in one process (``benchmarks.graph_run``: the code location's
   asset job on a real instance configured by this repo's ``dagster.yaml``, every check
   included): ingest, features, splits, train, evaluate, promote, drift, score. Record each
   stage's wall seconds and the peak RSS of the process tree while it ran; the total is the
   process's whole wall time, start-up (imports, instance) included.
3. Feature store side by side on the warehouse just built: DuckDB, Polars and pandas, 3 runs
   each (``feature_engines``).
4. Model quality against the oracle on the model just trained (``model_quality``).
5. Incremental month: land the held-back month and run it through raw → checks → features →
   drift → scores with ``dagster asset materialize ... --partition`` (CLI start-up included).
6. With ``--profile production``: step 2 again on the same landed months, on the production
   profile (DuckLake warehouse with its catalog in PostgreSQL, Dagster's instance and MLflow
   in PostgreSQL), on a throwaway cluster of Debian's PostgreSQL started for the run
   (``creditplatform.local_postgres``: one machine, ``fsync=off`` as in the tests, so commits
   cost less than on a durable server). Reported stage by stage beside the local run.

    python -m benchmarks.scale --months 12 --applications-per-month 25626 [--profile production]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import duckdb

from benchmarks import feature_engines, model_quality, predict_blocks
from benchmarks.common import production_env, write_results
from benchmarks.graph_run import RAW_KEYS, STAGES
from benchmarks.processes import Measured, run_measured
from creditplatform import local_postgres
from creditplatform.homecredit import TABLES
from creditplatform.months import month_range
from creditplatform.settings import REPO_ROOT, load_settings
from creditplatform.warehouse.ingest import raw_ref

INCREMENTAL_SELECTION = " or ".join(
    [f"key:{key}" for key in RAW_KEYS] + ["key:feature_store", "key:drift_report",
                                          "key:batch_scores"]
)  # fmt: skip


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def environment(data_dir: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "CREDITPLATFORM_DATA_DIR": str(data_dir),
        "CREDITPLATFORM_DAGSTER_STORAGE": str(data_dir / "dagster"),
        "DAGSTER_HOME": str(REPO_ROOT),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }
    env.pop("MLFLOW_TRACKING_URI", None)  # the embedded store under the data dir
    return env


def _production_environment(data_dir: Path, cluster: local_postgres.Cluster) -> dict[str, str]:
    """The production profile on ``cluster`` (``common.production_env``) for ``data_dir``."""
    env = environment(data_dir)
    env.pop("CREDITPLATFORM_DAGSTER_STORAGE")  # the instance is in PostgreSQL
    return {**env, **production_env(cluster, "scale")}


def _production_graph(months: list[str], landing: Path, workdir: Path) -> dict:
    """The whole graph on the production profile, on the landed files of ``landing`` (linked,
    not copied), with a cluster of its own stopped (by its pid) when the graph is done."""
    data_dir = workdir / "production"
    shutil.copytree(landing, data_dir / "landing", copy_function=os.link)
    # Not under the workdir when that is private to root: the server runs as `postgres`.
    directory = Path(tempfile.mkdtemp(prefix="creditplatform-scale-postgres-"))
    cluster = local_postgres.start(directory)
    try:
        _say("the same graph on the production profile (DuckLake, PostgreSQL) ...")
        summary, stages, _ = graph(months, _production_environment(data_dir, cluster))
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)
    return {**summary, "stages": stages, "postgres": "throwaway local cluster, fsync=off"}


# What every process of the platform imports before its first step (a CLI command, a run worker).
STARTUP_IMPORTS = "import creditplatform.definitions, mlflow, sklearn.ensemble"


def _import_seconds(env: dict[str, str], workdir: Path) -> dict[str, float]:
    """Wall seconds of ``STARTUP_IMPORTS`` in a fresh interpreter: with the venv's compiled
    bytecode (``make venv`` compiles it), and from source, as where no .pyc was ever written
    and none may be (PYTHONDONTWRITEBYTECODE with an empty cache prefix)."""
    cold = {**env, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(workdir / "pyc")}
    found = {}
    for name, environment in (("compiled", env), ("from_source", cold)):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", STARTUP_IMPORTS], env=environment, check=True)
        found[name] = round(time.perf_counter() - started, 2)
    return found


def graph(months: list[str], env: dict[str, str]) -> tuple[dict, dict, dict]:
    """(summary, per-stage figures, per-stage details) of one run of every stage."""
    command = [sys.executable, "-m", "benchmarks.graph_run", ",".join(STAGES),
               "--months", ",".join(months)]  # fmt: skip
    measured = run_measured(command, env)
    lines = [json.loads(line) for line in measured.stdout.strip().splitlines()]
    details = {line["stage"]: line for line in lines if "stage" in line}
    stages = {}
    for name, detail in details.items():
        stages[name] = {
            "wall_s": round(detail["ended"] - detail["started"], 1),
            "peak_rss_gb": round(measured.peak_between(detail["started"], detail["ended"]), 2),
            "runs": len(detail["runs"]),
        }
        _say(f"stage {name}: {stages[name]['wall_s']}s, peak {stages[name]['peak_rss_gb']} GB")
    first = min(detail["started"] for detail in details.values())
    summary = {
        "total_wall_s": round(measured.wall_s, 1),
        "start_s": round(first - measured.launched_at, 1),
        "peak_rss_gb": round(measured.peak_rss_gb, 2),
    }
    return summary, stages, details


def _median_run_s(detail: dict, skip_first: bool = False) -> float:
    """Median seconds of a stage's runs (after the first, which pays imports and caches)."""
    runs = detail["runs"][1:] if skip_first and len(detail["runs"]) > 1 else detail["runs"]
    return round(statistics.median(run["seconds"] for run in runs), 2)


def _scoring(detail: dict) -> dict:
    rows = sum(run["metadata"]["rows"] for run in detail["runs"])
    run_seconds = sum(run["seconds"] for run in detail["runs"])
    predict = [run["metadata"]["rows_per_second"] for run in detail["runs"]]
    return {
        "rows": rows,
        "rows_per_s": round(rows / run_seconds),
        "predict_rows_per_s": round(sorted(predict)[len(predict) // 2]),
    }


def generate_months(
    data_dir: Path, months: int, applications: int, seed: int, env: dict[str, str]
) -> Measured:
    """``creditplatform generate`` of ``months`` months into ``data_dir``, measured."""
    _say(f"generating {months} months x {applications:,} applications into {data_dir}")
    return run_measured(
        [str(Path(sys.executable).parent / "creditplatform"), "generate",
         "--months", str(months),
         "--applications-per-month", str(applications), "--seed", str(seed),
         "--out", str(data_dir)],
        env,
    )  # fmt: skip


def run(months: int, applications: int, seed: int, workdir: Path, production: bool) -> dict:
    data_dir = workdir / "data"
    env = environment(data_dir)
    all_months = month_range("2024-01", months + 1)
    history, incremental = all_months[:-1], all_months[-1]
    started = time.perf_counter()
    generate = generate_months(data_dir, months + 1, applications, seed, env)
    held = workdir / "held" / incremental
    held.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(data_dir / "landing" / incremental, held)
    _say(f"generated in {time.perf_counter() - started:.0f}s")

    imports = _import_seconds(env, workdir)
    _say(f"start-up imports: {imports}")
    local, stages, details = graph(history, env)
    on_production = (
        _production_graph(history, data_dir / "landing", workdir) if production else None
    )
    train = details["train"]["runs"][0]["metadata"]
    settings = replace(load_settings(), data_dir=data_dir)
    rows = published_rows(settings.warehouse_path)
    quality = model_quality.oracle_comparison(settings, int(train["model_version"]))
    quality["training_rows"] = int(train["training_rows"])
    blocks = predict_blocks.rows_per_second(settings)
    _say(f"prediction rows/s by block size: {blocks}")
    engines = feature_engines.compare_engines(data_dir / "warehouse.duckdb", history, workdir)

    shutil.move(held, data_dir / "landing" / incremental)
    _say(f"incremental month {incremental} through the CLI ...")
    increment = run_measured(
        [str(Path(sys.executable).parent / "dagster"), "asset", "materialize",
         "-m", "creditplatform.definitions", "--select", INCREMENTAL_SELECTION,
         "--partition", incremental],
        env,
    )  # fmt: skip
    _say(f"incremental month: {increment.wall_s:.1f}s")
    scoring = _scoring(details["score"])
    return {
        "scale": {
            "months": months,
            "applications_per_month": applications,
            "applications": applications * months,
            "landed_rows": rows,
            "generate_s": round(generate.wall_s, 1),
            **local,
            "stages": stages,
            "details": details,
        },
        "features_vs_pandas": engines["pandas"],
        "features_vs_polars": engines["polars"],
        "model_quality": quality,
        "incremental_month_s": round(increment.wall_s, 1),
        "startup_imports_s": imports,
        "ingest_month_median_s": _median_run_s(details["ingest"]),
        "drift_month_median_s": _median_run_s(details["drift"], skip_first=True),
        "incremental_month_peak_rss_gb": round(increment.peak_rss_gb, 2),
        "scoring": scoring,
        "scoring_rows_per_s": scoring["rows_per_s"],
        "predict_rows_per_s_by_block": blocks,
        **(
            {
                "production": on_production,
                "production_vs_local": round(
                    on_production["total_wall_s"] / local["total_wall_s"], 2
                ),
            }
            if on_production
            else {}
        ),
    }


def published_rows(warehouse: Path) -> int:
    """Rows the ingest stage published (every landed row: the contracts passed), counted by
    DuckDB rather than by re-reading the CSVs."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return sum(con.execute(f"SELECT count(*) FROM {raw_ref(name)}").fetchone()[0]
                   for name in TABLES)  # fmt: skip


def markdown(result: dict) -> str:
    scale = result["scale"]
    lines = [
        f"## Whole graph at Home Credit scale ({scale['months']} months x "
        f"{scale['applications_per_month']:,} = {scale['applications']:,} applications, "
        f"{scale['landed_rows']:,} landed rows)",
        "",
        "| stage | Dagster runs | wall s | peak RSS GB (process tree) |",
        "|---|---|---|---|",
    ]
    for name, stage in scale["stages"].items():
        lines.append(f"| {name} | {stage['runs']} | {stage['wall_s']} | {stage['peak_rss_gb']} |")
    lines += [
        f"| process start (imports, instance) | | {scale['start_s']} | |",
        f"| **whole graph** | | **{scale['total_wall_s']}** | **{scale['peak_rss_gb']}** |",
        "",
        f"Data generation (not part of the graph): {scale['generate_s']} s.",
        f"Incremental month (`dagster asset materialize`, raw + checks → features → drift → "
        f"scores, CLI start-up included): {result['incremental_month_s']} s, peak "
        f"{result['incremental_month_peak_rss_gb']} GB.",
        f"Start-up imports (`{STARTUP_IMPORTS}`, a fresh interpreter): "
        f"{result['startup_imports_s']['compiled']} s with the venv's bytecode, "
        f"{result['startup_imports_s']['from_source']} s compiled from source.",
        f"Per month (median of the runs): ingest {result['ingest_month_median_s']} s, drift "
        f"report {result['drift_month_median_s']} s after the first month.",
        f"Scoring: {result['scoring']['rows']:,} rows in {scale['stages']['score']['runs']} "
        f"`batch_scores` run(s) (a single-run backfill); {result['scoring']['rows_per_s']:,} "
        f"rows/s end to end (Dagster run, load champion, read features, predict, write); "
        f"{result['scoring']['predict_rows_per_s']:,} rows/s for the prediction alone.",
        "Prediction alone by block size (rows per `predict_proba` call: rows/s): "
        + ", ".join(f"{k}: {v:,}" for k, v in result["predict_rows_per_s_by_block"].items())
        + ".",
    ]
    if "production" in result:
        lines += ["", *_profiles(scale, result["production"], result["production_vs_local"])]
    return "\n".join(lines)


def _profiles(local: dict, production: dict, ratio: float) -> list[str]:
    """The same months through the same graph on both profiles, stage by stage."""
    lines = [
        "### Both profiles, same landed months",
        "",
        f"Production: DuckLake warehouse, Dagster instance, MLflow and the lake catalog in "
        f"PostgreSQL ({production['postgres']}).",
        "",
        "| stage | local wall s | production wall s | production / local |",
        "|---|---|---|---|",
    ]
    for name, stage in local["stages"].items():
        other = production["stages"][name]["wall_s"]
        share = f"{other / stage['wall_s']:.2f}" if stage["wall_s"] else "—"
        lines.append(f"| {name} | {stage['wall_s']} | {other} | {share} |")
    lines += [
        f"| process start | {local['start_s']} | {production['start_s']} | |",
        f"| **whole graph** | **{local['total_wall_s']}** | **{production['total_wall_s']}** "
        f"| **{ratio:.2f}** |",
        f"| peak RSS GB | {local['peak_rss_gb']} | {production['peak_rss_gb']} | |",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--applications-per-month", type=int, default=25_626)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--name", default="scale")
    parser.add_argument("--workdir", help="kept after the run (default: a temp dir, removed)")
    parser.add_argument(
        "--profile", choices=("local", "production"), default="local",
        help="production: the graph runs again on DuckLake and PostgreSQL, reported beside",
    )  # fmt: skip
    args = parser.parse_args()
    production = args.profile == "production"
    if args.workdir:
        workdir = Path(args.workdir)
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        result = run(args.months, args.applications_per_month, args.seed, workdir, production)
    else:
        with tempfile.TemporaryDirectory(prefix="creditplatform-scale-") as tmp:
            result = run(args.months, args.applications_per_month, args.seed, Path(tmp), production)
    text = "\n\n".join(
        [markdown(result), feature_engines.markdown({"pandas": result["features_vs_pandas"],
                                   "polars": result["features_vs_polars"]}),
         model_quality.markdown(result["model_quality"])]
    )  # fmt: skip
    json_path, md_path = write_results(args.name, result, text)
    print(text)
    print(f"\nwritten: {json_path} {md_path}")


if __name__ == "__main__":
    main()
