"""Drift-detection quality per scenario: recall on the shifted features, false flags in stable
months, and what the retrain rule would decide each month.

For each scenario: 30 generated months; months 1-6 are the champion's training months (its
train split is the reference, and a model trained on it gives the prediction-drift scores),
months 7-18 are stable, months 19-30 are drifted. Everything goes through the real ingestion,
contracts and feature SQL (the pure modules, without Dagster, to keep the run short).

    python -m benchmarks.drift_quality --applications-per-month 3000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

from creditplatform.features.catalog import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from creditplatform.features.store import STORE, build_month
from creditplatform.ml.drift import feature_drift, ks_test
from creditplatform.ml.model import ModelParams, predict_pd, train
from creditplatform.ml.retrain_rules import DriftEvidence, evaluate, should_retrain
from creditplatform.ml.splits import assign_splits
from creditplatform.months import month_range
from creditplatform.synthetic.generate import GenerateOptions, generate_history
from creditplatform.synthetic.scenarios import SCENARIOS
from creditplatform.warehouse.ingest import ingest_month

TRAINING, STABLE, DRIFTED = 6, 12, 12
HOURS_BETWEEN_MONTHS = 24 * 30


def run_scenario(name: str, applications: int, seed: int, out: Path) -> dict:
    months = month_range("2024-01", TRAINING + STABLE + DRIFTED)
    drift_from = months[TRAINING + STABLE]
    options = GenerateOptions(months=len(months), applications_per_month=applications,
                              seed=seed, drift_scenario=name, drift_from=drift_from)  # fmt: skip
    generate_history(out, options)
    warehouse = out / "warehouse.duckdb"
    for month in months:
        with duckdb.connect(str(warehouse)) as con:
            assert ingest_month(con, out / "landing", month).published
    with duckdb.connect(str(warehouse)) as con:
        for month in months:
            assert build_month(con, month).published
        frames = {
            m: con.execute(f"SELECT * FROM {STORE} WHERE month = ?", [m]).df() for m in months
        }
    history = pd.concat(frames[m] for m in months[:TRAINING])
    splits = assign_splits(history, months[:TRAINING], seed, 0.15, 0.15)
    split_of = splits.set_index("SK_ID_CURR")["split"]
    train_x = history[history["SK_ID_CURR"].map(split_of) == "train"]
    valid_x = history[history["SK_ID_CURR"].map(split_of) == "valid"]
    model = train(train_x, train_x["TARGET"], valid_x, valid_x["TARGET"], ModelParams()).model
    reference_scores = predict_pd(model, train_x)

    shifted = set(SCENARIOS[name].shifted_columns.get("application", []))
    rows, last_retrain = [], None
    for index, month in enumerate(months[TRAINING:], start=TRAINING):
        current = frames[month]
        drifts = feature_drift(train_x, current, list(NUMERIC_FEATURES), list(CATEGORICAL_FEATURES))
        flagged = {d.feature for d in drifts if d.psi >= 0.2}
        _, p_value = ks_test(reference_scores, predict_pd(model, current))
        since = None if last_retrain is None else (index - last_retrain) * HOURS_BETWEEN_MONTHS
        evidence = DriftEvidence(drifts[0].psi, drifts[0].feature, p_value,
                                 int(current["TARGET"].notna().sum()), since)  # fmt: skip
        fires = should_retrain(evaluate(evidence))
        if fires:
            last_retrain = index
        rows.append(
            {"month": month, "drifted": month >= drift_from, "flagged": sorted(flagged),
             "max_psi": drifts[0].psi, "prediction_p": p_value, "retrain": fires}
        )  # fmt: skip
    stable = [r for r in rows if not r["drifted"]]
    drifted = [r for r in rows if r["drifted"]]
    recall = (
        sum(len(shifted & set(r["flagged"])) for r in drifted) / (len(shifted) * len(drifted))
        if shifted else None
    )  # fmt: skip
    return {
        "shifted_features": sorted(shifted),
        "label_shift": SCENARIOS[name].label_shift,
        "recall": recall,
        "false_flags": sum(len(r["flagged"]) for r in stable),
        "retrains_stable": sum(r["retrain"] for r in stable),
        "retrains_drifted": sum(r["retrain"] for r in drifted),
        "first_retrain_month": next((r["month"] for r in rows if r["retrain"]), None),
        "drift_from": drift_from,
        "also_flagged_when_drifted": sorted({f for r in drifted for f in r["flagged"]} - shifted),
        "max_psi_stable": max(r["max_psi"] for r in stable),
        "months": rows,
    }


def shifted_none(result: dict) -> str:
    return "(labels only)" if result.get("label_shift") else "-"


def markdown(results: dict, applications: int) -> str:
    lines = [
        f"# Drift detection quality ({applications:,} applications a month; "
        f"{STABLE} stable then {DRIFTED} drifted months after {TRAINING} training months)",
        "",
        "| scenario | shifted features | recall | false flags (stable) | max PSI stable "
        "| retrains stable | retrains drifted | first retrain |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        recall = "n/a" if r["recall"] is None else f"{r['recall']:.2f}"
        lines.append(
            f"| {name} | {', '.join(r['shifted_features']) or shifted_none(r)} | {recall} | "
            f"{r['false_flags']} | {r['max_psi_stable']:.3f} | {r['retrains_stable']} | "
            f"{r['retrains_drifted']} | {r['first_retrain_month'] or '-'} |"
        )
    lines.append("")
    for name, r in results.items():
        if r["also_flagged_when_drifted"]:
            lines.append(f"- {name}: also flagged in drifted months (derived from the shifted "
                         f"columns): {', '.join(r['also_flagged_when_drifted'])}")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    from benchmarks.common import write_results

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--applications-per-month", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--name", default="drift_quality")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    args = parser.parse_args()
    results = {}
    for name in args.scenarios.split(","):
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            results[name] = run_scenario(name, args.applications_per_month, args.seed, Path(tmp))
        print(f"{name}: {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)
    text = markdown(results, args.applications_per_month)
    write_results(args.name, {"drift_quality": results}, text)
    print(text)


if __name__ == "__main__":
    main()
