"""The evaluation report: metrics tables, plots and an HTML page a reviewer reads.

Candidate, champion and baseline are scored on the same test and out-of-time rows in the same
run; the report states the rows, the label rates and how each metric is defined, and how sure
each number is: every model's ROC-AUC, Brier and ECE carry a 95% interval (``*_ci``), and the
``comparisons`` block gives the candidate's paired AUC difference with the champion and the
baseline on the same rows (``ml/uncertainty.py`` says which method and why).
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.inspection import permutation_importance
from sklearn.metrics import precision_recall_curve, roc_curve

from creditplatform.ml.figures import pd_bins, png
from creditplatform.ml.metrics import classification_metrics
from creditplatform.ml.uncertainty import (
    TooFewClasses,
    auc_interval,
    paired_auc_difference,
    stratified_bootstrap,
)

HEADLINE = ("roc_auc", "gini", "ks", "pr_auc", "brier", "ece", "log_loss", "precision_at_k")


@dataclass
class ScoredSet:
    name: str
    y: np.ndarray
    scores: dict[str, np.ndarray]  # model label -> PD


@dataclass
class Report:
    # set -> model -> metric -> value (a float; an interval ``<metric>_ci`` is [lo, hi])
    metrics: dict[str, dict[str, dict[str, Any]]]
    plots: dict[str, bytes] = field(default_factory=dict)
    importances: list[tuple[str, float]] = field(default_factory=list)
    comparisons: dict[str, Any] = field(
        default_factory=dict
    )  # set -> "candidate_vs_<model>" -> test

    def headline_markdown(self, set_name: str = "test") -> str:
        models = list(self.metrics[set_name])
        lines = ["| metric | " + " | ".join(models) + " |", "|---" * (len(models) + 1) + "|"]
        for metric in HEADLINE:
            values = " | ".join(f"{self.metrics[set_name][m][metric]:.4f}" for m in models)
            lines.append(f"| {metric} | {values} |")
        return "\n".join(lines)


def score_sets(sets: list[ScoredSet], threshold: float, k_share: float) -> dict[str, Any]:
    return {
        s.name: {m: classification_metrics(s.y, p, threshold, k_share) for m, p in s.scores.items()}
        for s in sets
    }


METHODS = {
    "roc_auc_ci": "DeLong (fast midrank form), two-sided",
    "brier_ci": "stratified bootstrap (defaults and non-defaults redrawn apart), percentile",
    "ece_ci": "stratified bootstrap (defaults and non-defaults redrawn apart), percentile",
    "comparisons": "DeLong's paired test of the ROC-AUC difference on the same rows",
}


def add_uncertainty(
    metrics: dict[str, Any], sets: list[ScoredSet], confidence: float, seed: int
) -> dict[str, Any]:
    """Every model's ``roc_auc_ci``/``roc_auc_se``, ``brier_ci`` and ``ece_ci`` into ``metrics``;
    returns the comparisons block (set → ``candidate_vs_champion``/``candidate_vs_baseline``).
    A set with fewer than two defaults or non-defaults gets no AUC interval (None) and the
    reason, and the ``min_defaults`` gate refuses it anyway."""
    comparisons: dict[str, Any] = {"confidence": confidence, "methods": METHODS}
    for s in sets:
        boot = stratified_bootstrap(s.y, s.scores, confidence, seed)
        for model, p in s.scores.items():
            values = metrics[s.name][model]
            try:
                auc = auc_interval(s.y, p, confidence)
                values["roc_auc_ci"], values["roc_auc_se"] = [auc.lo, auc.hi], auc.se
            except TooFewClasses:
                values["roc_auc_ci"], values["roc_auc_se"] = None, float("nan")
            values["brier_ci"] = list(boot[model]["brier"])
            values["ece_ci"] = list(boot[model]["ece"])
        pairs = {}
        for other in ("champion", "baseline"):
            if other in s.scores:
                try:
                    found = paired_auc_difference(
                        s.y, s.scores["candidate"], s.scores[other], confidence
                    ).as_dict()
                except TooFewClasses as err:
                    found = {"error": str(err)}
                pairs[f"candidate_vs_{other}"] = {"metric": "roc_auc", **found}
        comparisons[s.name] = pairs
    return comparisons


def scalars(values: dict[str, Any]) -> dict[str, float]:
    """The metrics that are one number (intervals are lists), for MLflow and tables."""
    return {k: v for k, v in values.items() if isinstance(v, int | float)}


def plot_curves(test: ScoredSet) -> dict[str, bytes]:
    plots = {}
    fig, ax = plt.subplots(figsize=(4.5, 4))
    for label, p in test.scores.items():
        fpr, tpr, _ = roc_curve(test.y, p)
        ax.plot(fpr, tpr, label=label)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test)")
    ax.legend(fontsize=8)
    plots["roc"] = png(fig)

    fig, ax = plt.subplots(figsize=(4.5, 4))
    for label, p in test.scores.items():
        precision, recall, _ = precision_recall_curve(test.y, p)
        ax.plot(recall, precision, label=label)
    ax.axhline(test.y.mean(), color="k", ls=":", lw=0.8)
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (test)")
    ax.legend(fontsize=8)
    plots["pr"] = png(fig)

    fig, ax = plt.subplots(figsize=(4.5, 4))
    for label, p in test.scores.items():
        observed, predicted = calibration_curve(test.y, p, n_bins=10, strategy="quantile")
        ax.plot(predicted, observed, "o-", ms=3, label=label)
    top = max(float(np.max(p)) for p in test.scores.values())
    ax.plot([0, top], [0, top], "k:", lw=0.8)
    ax.set(xlabel="mean predicted PD", ylabel="observed default rate", title="Calibration (test)")
    ax.legend(fontsize=8)
    plots["calibration"] = png(fig)

    fig, ax = plt.subplots(figsize=(4.5, 4))
    candidate = test.scores["candidate"]
    bins = pd_bins(candidate)
    ax.hist(candidate[test.y == 0], bins=bins, alpha=0.6, density=True, label="repaid (0)")
    ax.hist(candidate[test.y == 1], bins=bins, alpha=0.6, density=True, label="defaulted (1)")
    ax.set(xlabel="candidate PD", ylabel="density", title="Score distribution by class (test)")
    ax.legend(fontsize=8)
    plots["score_distribution"] = png(fig)
    return plots


def feature_importances(
    model: Any, x: pd.DataFrame, y: np.ndarray, seed: int, rows: int = 4000
) -> list[tuple[str, float]]:
    """Permutation importance (drop in ROC-AUC) on a fixed sample of the valid split.

    The sample is encoded once and the columns are permuted in the booster's own input, so each
    of the 2 x 103 re-scorings is one tree-ensemble prediction rather than a pass through the
    whole pipeline (joblib workers do not help: the booster already uses both cores). The
    isotonic calibration on top is monotone, so it does not change the ranking ROC-AUC
    measures: the drop is the booster's, up to ties the calibration introduces.
    """
    sample = x.sample(n=min(rows, len(x)), random_state=seed)
    pipeline = model.estimator.estimator  # CalibratedClassifierCV(FrozenEstimator(pipeline))
    encode, booster = pipeline[:-1], pipeline[-1]
    encoded = encode.transform(sample)
    names = list(encode[-1].get_feature_names_out())
    result = permutation_importance(
        booster, encoded, y[x.index.get_indexer(sample.index)], scoring="roc_auc",
        n_repeats=2, random_state=seed, n_jobs=1,
    )  # fmt: skip
    ranked = sorted(zip(names, result.importances_mean, strict=True), key=lambda t: -t[1])
    return [(name, float(value)) for name, value in ranked]


def plot_importances(importances: list[tuple[str, float]], top: int = 15) -> bytes:
    names, values = zip(*importances[:top], strict=True)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.barh(list(reversed(names)), list(reversed(values)))
    ax.set(xlabel="drop in ROC-AUC when permuted", title=f"Top {top} features (valid sample)")
    return png(fig)


def write_report(
    report: Report, out_dir: Path, title: str, context: dict[str, Any]
) -> dict[str, Path]:
    """Write ``report.json``, one PNG per plot and a self-contained ``report.html``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, data in report.plots.items():
        paths[name] = out_dir / f"{name}.png"
        paths[name].write_bytes(data)
    payload = {"context": context, "metrics": report.metrics,
               "comparisons": report.comparisons, "importances": report.importances}  # fmt: skip
    paths["json"] = out_dir / "report.json"
    paths["json"].write_text(json.dumps(payload, indent=2, default=str))
    tables = "".join(
        f"<h2>{html.escape(set_name)} set</h2>"
        + _html_table(models)
        + _comparisons_html(report.comparisons.get(set_name, {}))
        for set_name, models in report.metrics.items()
    )
    images = "".join(
        f'<figure><img src="data:image/png;base64,{base64.b64encode(d).decode()}"/>'
        f"<figcaption>{html.escape(n)}</figcaption></figure>"
        for n, d in report.plots.items()
    )
    facts = "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in context.items()
    )
    paths["html"] = out_dir / "report.html"
    paths["html"].write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "figure{display:inline-block;margin:8px}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><ul>{facts}</ul>{tables}{images}"
        "<p>ECE: 10 equal-mass bins, size-weighted mean |mean PD − default rate|. KS: max "
        "(TPR − FPR). precision_at_k: default rate among the top-k share of PDs. Brackets: "
        f"{report.comparisons.get('confidence', 0.95):.0%} intervals (ROC-AUC: DeLong; Brier "
        "and ECE: stratified bootstrap). Paired differences: DeLong's test on the same rows."
        "</p>"
        "</body></html>"
    )
    return paths


def _cell(values: dict[str, Any], metric: str) -> str:
    ci = values.get(f"{metric}_ci")
    text = f"{values[metric]:.4f}"
    return text + (f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "")


def _html_table(models: dict[str, dict[str, Any]]) -> str:
    names = list(models)
    metrics = [m for m in scalars(next(iter(models.values()))) if not m.endswith("_se")]
    head = "<tr><th>metric</th>" + "".join(f"<th>{html.escape(n)}</th>" for n in names) + "</tr>"
    rows = "".join(
        f"<tr><td>{m}</td>" + "".join(f"<td>{_cell(models[n], m)}</td>" for n in names) + "</tr>"
        for m in metrics
    )
    return f"<table>{head}{rows}</table>"


def _comparisons_html(pairs: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(name.replace('_', ' '))}</td>"
        + (
            f"<td>{c['difference']:+.4f}</td><td>[{c['ci'][0]:+.4f}, {c['ci'][1]:+.4f}]</td>"
            f"<td>{c['p_value']:.3g}</td>"
            if "difference" in c
            else f"<td colspan='3'>{html.escape(c.get('error', ''))}</td>"
        )
        + "</tr>"
        for name, c in pairs.items()
    )
    if not rows:
        return ""
    return (
        "<table><tr><th>ROC-AUC, paired on the same rows</th><th>difference</th>"
        f"<th>interval</th><th>p-value (DeLong)</th></tr>{rows}</table>"
    )
