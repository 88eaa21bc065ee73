"""Model quality against the oracle: the candidate's test metrics vs the true PD's.

Generates a history with the default scenario, runs the real Dagster jobs (ingest each month,
then retrain), and scores the same test rows with the generator's true PD from ``truth/``.
The oracle AUC/Brier/ECE are the best any model can reach on these rows.

    python -m benchmarks.model_quality --months 12 --applications-per-month 25000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd


def run(months: int, applications: int, seed: int, data_dir: Path) -> dict:
    os.environ["CREDITPLATFORM_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import dagster as dg

    from creditplatform.definitions import build_definitions
    from creditplatform.ml.metrics import classification_metrics
    from creditplatform.ml.training_data import load_split
    from creditplatform.pipeline import Runner
    from creditplatform.settings import load_settings
    from creditplatform.synthetic.generate import GenerateOptions, generate_history

    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    settings = load_settings()
    started = time.perf_counter()
    generate_history(
        data_dir, GenerateOptions(months=months, applications_per_month=applications, seed=seed)
    )
    say(f"generated {months} x {applications:,} in {time.perf_counter() - started:.0f}s")
    runner = Runner(build_definitions(settings), dg.DagsterInstance.ephemeral(), say)
    for month in sorted(p.name for p in (data_dir / "landing").iterdir()):
        assert runner.run("ingest_job", f"ingest {month}", partition_key=month).success
    result = runner.run("retrain_job", "retrain")
    assert result.success
    evaluation = result.output_for_node("evaluation_report")
    candidate = evaluation.candidate
    truth = pd.concat(pd.read_parquet(p) for p in sorted((data_dir / "truth").glob("*.parquet")))
    out = {"rows": {}, "candidate": {}, "oracle": {}, "gap": {}}
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        for split in ("test", "oot"):
            rows = load_split(con, candidate.data_sha256, split)[["SK_ID_CURR", "TARGET"]]
            joined = rows.merge(truth[["SK_ID_CURR", "TRUE_PD"]], on="SK_ID_CURR")
            oracle = classification_metrics(
                joined["TARGET"].to_numpy(int), joined["TRUE_PD"].to_numpy(),
                settings.policy_threshold, settings.precision_at_k_share,
            )  # fmt: skip
            model = evaluation.metrics[split]["candidate"]
            out["rows"][split] = len(rows)
            out["candidate"][split] = {k: model[k] for k in ("roc_auc", "brier", "ece")}
            out["oracle"][split] = {k: oracle[k] for k in ("roc_auc", "brier", "ece")}
            out["gap"][split] = {
                "auc": oracle["roc_auc"] - model["roc_auc"],
                "brier": model["brier"] - oracle["brier"],
            }
    out["training_rows"] = candidate.training_rows
    out["months"], out["applications_per_month"] = months, applications
    out["wall_s"] = round(time.perf_counter() - started, 1)
    return out


def markdown(result: dict) -> str:
    size = f"{result['months']} months x {result['applications_per_month']:,} applications"
    lines = [
        f"# Model quality vs oracle ({size}, {result['training_rows']:,} training rows)",
        "",
        "| set | rows | AUC model | AUC oracle | gap | Brier model | Brier oracle "
        "| ECE model | ECE oracle |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for split in ("test", "oot"):
        c, o = result["candidate"][split], result["oracle"][split]
        lines.append(
            f"| {split} | {result['rows'][split]:,} | {c['roc_auc']:.4f} | {o['roc_auc']:.4f} | "
            f"{o['roc_auc'] - c['roc_auc']:.4f} | {c['brier']:.5f} | {o['brier']:.5f} | "
            f"{c['ece']:.4f} | {o['ece']:.4f} |"
        )
    return "\n".join(lines)


def main() -> None:
    from benchmarks.common import write_results

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--applications-per-month", type=int, default=25_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--name", default="model_quality")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args.months, args.applications_per_month, args.seed, Path(tmp))
    json_path, md_path = write_results(args.name, {"model_quality": result}, markdown(result))
    print(markdown(result))
    print(f"\nwritten: {json_path} {md_path}")


if __name__ == "__main__":
    main()
