"""Drift-detection quality per scenario, and how the loop adapts after drift.

For each scenario: 30 generated months; months 1-6 train the first champion, months 7-18 are
stable, months 19-30 drifted. Each month is judged against the champion's drift reference (its
training rows of the newest ``drift_reference_months`` in-time months) with the platform's
rules: the drift rule (PSI, prediction drift, new labels, cooldown in months x 720 h) and the
performance rule (the month degraded when the champion's AUC on its outcomes is significantly
below its test AUC, or its default rate significantly off its mean PD; consecutive degraded
months retrain). When either fires,
a new champion is trained on the latest ``training_window_months`` matured months, exactly as
``training_splits`` and ``candidate_model`` would, and becomes the reference; the promotion
gates are assumed to pass (they are measured in ``model_quality``), so the delays below are the
rules' own. Everything goes through the real ingestion, contracts and feature SQL and the pure
modules, without Dagster, to keep the run short. All outcomes are labelled at landing here, so
a month is matured as soon as it lands.

Reported per scenario: recall on the shifted features (drifted months until the first retrain
after onset), false flags and retrains in stable months, and in months from the drift onset (0 = the
first drifted month): to detection (PSI >= threshold or prediction drift), to the first
retrain, and to max PSI back under the threshold after a retrain; for the label-only scenario,
to the performance-rule retrain.

    python -m benchmarks.drift_quality --applications-per-month 3000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from creditplatform.defs.resources import DriftRules
from creditplatform.features.catalog import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from creditplatform.features.store import STORE, build_month
from creditplatform.ml.drift import feature_drift, ks_test
from creditplatform.ml.model import ModelParams, predict_pd, train
from creditplatform.ml.retrain_rules import (
    DriftEvidence,
    MonthPerformance,
    evaluate,
    judge_month,
    performance_action,
    should_retrain,
)
from creditplatform.ml.splits import assign_splits
from creditplatform.ml.uncertainty import auc_interval, calibration_gap
from creditplatform.months import month_range, reference_months
from creditplatform.settings import Settings, load_settings
from creditplatform.synthetic.generate import GenerateOptions, generate_history
from creditplatform.synthetic.scenarios import SCENARIOS
from creditplatform.warehouse.ingest import ingest_month

TRAINING, STABLE, DRIFTED = 6, 12, 12
HOURS_BETWEEN_MONTHS = 24 * 30


@dataclass
class Champion:
    model: object
    window: list[str]
    reference: pd.DataFrame
    reference_scores: np.ndarray
    test_auc: float
    test_auc_se: float


def fit(frames: dict[str, pd.DataFrame], window: list[str], settings: Settings) -> Champion:
    """Train on ``window`` (its last month out-of-time) the way the retrain job does."""
    history = pd.concat(frames[m] for m in window)
    splits = assign_splits(history, window, settings.seed, settings.valid_share,
                           settings.test_share)  # fmt: skip
    split_of = history["SK_ID_CURR"].map(splits.set_index("SK_ID_CURR")["split"])
    part = {name: history[split_of == name] for name in ("train", "valid", "test")}
    model = train(part["train"], part["train"]["TARGET"], part["valid"], part["valid"]["TARGET"],
                  ModelParams(seed=settings.seed)).model  # fmt: skip
    test = auc_interval(part["test"]["TARGET"].to_numpy(int), predict_pd(model, part["test"]),
                        settings.evidence_confidence)  # fmt: skip
    months = reference_months(window, settings.drift_reference_months)
    reference = part["train"][part["train"]["month"].isin(months)]
    return Champion(model, window, reference, predict_pd(model, reference), test.value, test.se)


def _after(month: str | None, onset: str) -> int | None:
    """Months from ``onset`` to ``month`` (0: the onset month itself)."""
    if month is None:
        return None
    (y1, m1), (y0, m0) = (map(int, month.split("-")), map(int, onset.split("-")))
    return (y1 - y0) * 12 + (m1 - m0)


def run_scenario(name: str, applications: int, seed: int, out: Path, settings: Settings) -> dict:
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
    resource = DriftRules.from_settings(settings)
    rules, performance = resource.retrain_rules(), resource.performance_rules()
    champion = fit(frames, months[:TRAINING], settings)
    shifted = set(SCENARIOS[name].shifted_columns.get("application", []))
    rows, last_drift_retrain, degraded = [], None, {}
    for index, month in enumerate(months[TRAINING:], start=TRAINING):
        current = frames[month]
        drifts = feature_drift(champion.reference, current, list(NUMERIC_FEATURES),
                               list(CATEGORICAL_FEATURES))  # fmt: skip
        scores = predict_pd(champion.model, current)
        _, p_value = ks_test(champion.reference_scores, scores)
        y = current["TARGET"].to_numpy(int)
        auc, gap = auc_interval(y, scores, performance.confidence), calibration_gap(y, scores)
        judged = judge_month(
            MonthPerformance(auc.value, auc.se, champion.test_auc, champion.test_auc_se,
                             gap.observed_rate, gap.mean_pd, gap.se),
            performance,
        )  # fmt: skip
        degraded[month] = judged.degraded
        since = (
            None if last_drift_retrain is None
            else (index - last_drift_retrain) * HOURS_BETWEEN_MONTHS
        )  # fmt: skip
        newer = sum(frames[m]["TARGET"].notna().sum() for m in months[: index + 1]
                    if m > champion.window[-1])  # fmt: skip
        evidence = DriftEvidence(drifts[0].psi, drifts[0].feature, p_value, int(newer), since)
        trigger = None
        if should_retrain(evaluate(evidence, rules)):
            trigger, last_drift_retrain = "drift", index
        elif performance_action(degraded, month, None, performance).kind == "retrain":
            trigger = "performance"
        rows.append(
            {"month": month, "drifted": month >= drift_from,
             "flagged": sorted(d.feature for d in drifts if d.psi >= rules.psi_threshold),
             "max_psi": drifts[0].psi, "prediction_p": p_value,
             "auc_drop": judged.auc_relative_drop,
             "auc_shortfall_lower": judged.auc_shortfall_lower,
             "calibration_gap": judged.calibration_gap, "degraded": judged.degraded,
             "retrain": trigger}
        )  # fmt: skip
        if trigger:
            window = months[max(0, index + 1 - settings.training_window_months) : index + 1]
            champion, degraded = fit(frames, window, settings), {}
    return summarise(name, rows, shifted, drift_from, rules)


def summarise(name: str, rows: list[dict], shifted: set[str], onset: str, rules) -> dict:
    stable = [r for r in rows if not r["drifted"]]
    drifted = [r for r in rows if r["drifted"]]
    # Recall is the pre-drift champion's: drifted months up to its first retrain after onset.
    first = next((i for i, r in enumerate(drifted) if r["retrain"]), len(drifted) - 1)
    before_adapting = drifted[: first + 1]
    recall = (
        sum(len(shifted & set(r["flagged"])) for r in before_adapting)
        / (len(shifted) * len(before_adapting))
        if shifted and before_adapting else None
    )  # fmt: skip
    detected = next(
        (r["month"] for r in drifted
         if r["max_psi"] >= rules.psi_threshold or r["prediction_p"] < rules.prediction_pvalue),
        None,
    )  # fmt: skip
    retrained = next((r["month"] for r in drifted if r["retrain"]), None)
    recovered = next(
        (r["month"] for r in drifted
         if retrained and r["month"] > retrained and r["max_psi"] < rules.psi_threshold),
        None,
    )  # fmt: skip
    performance = next((r["month"] for r in drifted if r["retrain"] == "performance"), None)
    return {
        "shifted_features": sorted(shifted),
        "label_shift": SCENARIOS[name].label_shift,
        "recall": recall,
        "false_flags": sum(len(r["flagged"]) for r in stable),
        "retrains_stable": sum(bool(r["retrain"]) for r in stable),
        "degraded_stable": sum(r["degraded"] for r in stable),
        "degraded_drifted": sum(r["degraded"] for r in drifted),
        "retrains_drifted": sum(bool(r["retrain"]) for r in drifted),
        "first_retrain_month": retrained,
        "drift_from": onset,
        "months_to_detection": _after(detected, onset),
        "months_to_retrain": _after(retrained, onset),
        "months_to_psi_below_threshold": _after(recovered, onset),
        "months_to_performance_retrain": _after(performance, onset),
        "also_flagged_when_drifted": sorted(
            {f for r in before_adapting for f in r["flagged"]} - shifted
        ),
        "max_psi_stable": max(r["max_psi"] for r in stable),
        "months": rows,
    }


def shifted_none(result: dict) -> str:
    return "(labels only)" if result.get("label_shift") else "-"


def markdown(results: dict, applications: int, reference: int) -> str:
    lines = [
        f"# Drift detection quality ({applications:,} applications a month; "
        f"{STABLE} stable then {DRIFTED} drifted months after {TRAINING} training months; drift "
        f"reference: the champion's newest {reference} in-time training month(s))",
        "",
        "| scenario | shifted features | recall | false flags (stable) | max PSI stable "
        "| degraded months stable | degraded months drifted "
        "| retrains stable | retrains drifted | first retrain |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        recall = "n/a" if r["recall"] is None else f"{r['recall']:.2f}"
        lines.append(
            f"| {name} | {', '.join(r['shifted_features']) or shifted_none(r)} | {recall} | "
            f"{r['false_flags']} | {r['max_psi_stable']:.3f} | {r['degraded_stable']} | "
            f"{r['degraded_drifted']} | {r['retrains_stable']} | "
            f"{r['retrains_drifted']} | {r['first_retrain_month'] or '-'} |"
        )
    lines += [
        "",
        "Months from the drift onset (0 = first drifted month; '-' = not within the "
        f"{DRIFTED} drifted months):",
        "",
        "| scenario | to detection | to first retrain | to max PSI < threshold again "
        "| to performance retrain | retrains (month: trigger) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        cell = lambda v: "-" if v is None else str(v)  # noqa: E731
        retrains = ", ".join(f"{m['month']}: {m['retrain']}" for m in r["months"] if m["retrain"])
        lines.append(
            f"| {name} | {cell(r['months_to_detection'])} | {cell(r['months_to_retrain'])} | "
            f"{cell(r['months_to_psi_below_threshold'])} | "
            f"{cell(r['months_to_performance_retrain'])} | {retrains or '-'} |"
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
    settings = load_settings()
    results = {}
    for name in args.scenarios.split(","):
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            results[name] = run_scenario(
                name, args.applications_per_month, args.seed, Path(tmp), settings
            )
        print(f"{name}: {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)
    text = markdown(results, args.applications_per_month, settings.drift_reference_months)
    write_results(args.name, {"drift_quality": results}, text)
    print(text)


if __name__ == "__main__":
    main()
