"""Model quality against the oracle: the candidate's test metrics vs the true PD's.

Run by ``benchmarks.scale`` on the model its Home Credit-scale run trained: the same test and
out-of-time rows are scored with the generator's true PD from ``truth/``, whose AUC/Brier/ECE
are the best any model can reach on them.
"""

from __future__ import annotations

import json

import pandas as pd

from creditplatform.settings import Settings


def oracle_comparison(settings: Settings, version: int) -> dict:
    """The candidate's test and OOT metrics (from its evaluation report) next to the oracle's
    on the same rows (the generator's true PD from ``truth/``)."""
    from creditplatform.ml.metrics import classification_metrics
    from creditplatform.ml.training_data import load_split

    report_path = settings.reports_dir / "evaluation" / f"v{version}" / "report.json"
    report = json.loads(report_path.read_text())
    data_sha256 = report["context"]["data SHA-256"]
    truth = pd.concat(pd.read_parquet(p) for p in sorted(settings.truth_dir.glob("*.parquet")))
    out: dict = {"rows": {}, "candidate": {}, "oracle": {}, "gap": {}}
    with settings.warehouse.connect(read_only=True) as con:
        for split in ("test", "oot"):
            rows = load_split(con, data_sha256, split)[["SK_ID_CURR", "TARGET"]]
            joined = rows.merge(truth[["SK_ID_CURR", "TRUE_PD"]], on="SK_ID_CURR")
            oracle = classification_metrics(
                joined["TARGET"].to_numpy(int), joined["TRUE_PD"].to_numpy(),
                settings.policy_threshold, settings.precision_at_k_share,
            )  # fmt: skip
            model = report["metrics"][split]["candidate"]
            out["rows"][split] = len(rows)
            out["candidate"][split] = {k: model[k] for k in ("roc_auc", "brier", "ece")}
            out["oracle"][split] = {k: oracle[k] for k in ("roc_auc", "brier", "ece")}
            out["gap"][split] = {
                "auc": oracle["roc_auc"] - model["roc_auc"],
                "brier": model["brier"] - oracle["brier"],
            }
    out["model_version"] = version
    out["test_rows"] = report["context"]["test rows"]
    return out


def markdown(result: dict) -> str:
    lines = [
        f"## Model quality vs oracle (model v{result['model_version']}, "
        f"{result['training_rows']:,} training rows)",
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
