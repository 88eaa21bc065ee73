"""``latest.json`` / ``latest.md``: the headline figures of one ``make bench`` against the targets.

Reads the results the benchmarks just wrote (``scale``, ``drift_quality`` and ``serving``, or
their ``_small`` twins) and writes the keys docs/architecture.md §7 lists, so the README table
and CI read one file.

    python -m benchmarks.summary [--suffix _small]
"""

from __future__ import annotations

import argparse
import json

from benchmarks.common import RESULTS, write_results

# (label, key path in latest.json, target, "max" = at most / "min" = at least, before): "before"
# is the figure of the committed run at BEFORE_COMMIT, the last before the performance work.
BEFORE_COMMIT = "d5b23be"
TARGETS = [
    ("whole graph wall s", ("scale", "total_wall_s"), 100, "max", 213.4),
    ("whole graph peak RSS GB", ("scale", "peak_rss_gb"), 3, "max", 1.59),
    ("ingest s per 25k-application month (median)", ("ingest_month_median_s",), 3, "max", 6.43),
    ("drift report s per month (median, after the first)", ("drift_month_median_s",), 1.5,
     "max", 4.88),
    ("scoring rows/s (whole batch_scores run, end to end)", ("scoring_run_rows_per_s",),
     150_000, "min", 33_230),
    ("scoring rows/s (prediction alone)", ("scoring_predict_rows_per_s",), 100_000, "min",
     116_239),
    ("incremental month via the CLI s", ("incremental_month_s",), 12, "max", 28.0),
    ("features pandas / DuckDB time (lowest of 3)", ("features_vs_pandas", "ratio_min"), 8,
     "min", None),
    ("features Polars / DuckDB time (median of 3)", ("features_vs_polars", "ratio"), 1.3, "min",
     None),
    ("features Polars / DuckDB time (lowest of 3)", ("features_vs_polars", "ratio_min"), 1.0,
     "min", None),
    ("whole graph, production profile / local", ("production_vs_local",), 1.5, "max", None),
    ("serving p50 ms, 1 client", ("serving", "p50_ms_1_client"), 25, "max", 135.1),
    ("serving p99 ms, 8 clients", ("serving", "p99_ms_8_clients"), 50, "max", 532.0),
    ("serving batch applicants/s", ("serving", "batch_applicants_per_s"), 2_000, "min", 709.1),
    ("serving batch applicants/s with reason codes",
     ("serving", "batch_applicants_per_s_with_reasons"), 1_000, "min", 244.0),
    ("retrains in stable months, worst drift scenario", ("drift_stable_retrains_max",), 0, "max",
     1),
    ("default_rate_shift: months from onset to its retrain",
     ("drift_quality", "default_rate_shift", "months_to_retrain"), 2, "max", 2),
]  # fmt: skip


def _read(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


SERVING_KEYS = (
    "p50_ms_1_client", "p99_ms_8_clients", "p99_ms_32_clients", "requests_per_s_8_clients",
    "batch_applicants_per_s", "batch_applicants_per_s_with_reasons",
)  # fmt: skip


def latest(scale: dict, drift: dict, serving: dict) -> dict:
    quality = scale["model_quality"]
    test_model, test_oracle = quality["candidate"]["test"], quality["oracle"]["test"]
    return {
        "scale": {
            "total_wall_s": scale["scale"]["total_wall_s"],
            "peak_rss_gb": scale["scale"]["peak_rss_gb"],
            "start_s": scale["scale"]["start_s"],
            "applications": scale["scale"]["applications"],
            "landed_rows": scale["scale"]["landed_rows"],
            "stages": {
                name: {"wall_s": stage["wall_s"], "peak_rss_gb": stage["peak_rss_gb"]}
                for name, stage in scale["scale"]["stages"].items()
            },
        },
        # Only when the run was made with ``--profile production``.
        **{k: scale[k] for k in ("production", "production_vs_local") if k in scale},
        "features_vs_pandas": _engines(scale["features_vs_pandas"], "pandas"),
        "features_vs_polars": _engines(scale["features_vs_polars"], "polars"),
        "incremental_month_s": scale["incremental_month_s"],
        "ingest_month_median_s": scale["ingest_month_median_s"],
        "drift_month_median_s": scale["drift_month_median_s"],
        "scoring_rows_per_s": scale["scoring_rows_per_s"],
        "scoring_run_rows_per_s": scale["scoring_rows_per_s"],
        "scoring_predict_rows_per_s": scale["scoring"]["predict_rows_per_s"],
        "predict_rows_per_s_by_block": scale["predict_rows_per_s_by_block"],
        "startup_imports_s": scale["startup_imports_s"],
        "model_quality": {
            "auc": test_model["roc_auc"],
            "oracle_auc": test_oracle["roc_auc"],
            "brier": test_model["brier"],
            "oracle_brier": test_oracle["brier"],
            "ece": test_model["ece"],
            "oot_auc": quality["candidate"]["oot"]["roc_auc"],
            "oot_oracle_auc": quality["oracle"]["oot"]["roc_auc"],
        },
        "drift_quality": {
            name: {k: result.get(k) for k in DRIFT_KEYS}
            for name, result in drift["drift_quality"].items()
        },
        "drift_stable_retrains_max": max(
            result["retrains_stable"] for result in drift["drift_quality"].values()
        ),
        "serving": {
            **{k: serving["serving"][k] for k in SERVING_KEYS},
            # The same run's A/B against a baseline commit (``--baseline``), when it made one.
            **{k: serving["serving"][k] for k in ("vs_baseline",) if k in serving["serving"]},
        },
        "source_commits": {
            "scale": scale["git_commit"],
            "drift_quality": drift["git_commit"],
            "serving": serving["git_commit"],
        },
    }


def _engines(found: dict, peer: str) -> dict:
    """DuckDB against one peer: medians of the runs, every run's ratio and the lowest."""
    keys = ("duckdb_s", f"{peer}_s", f"{peer}_load_s", "ratio", "ratios", "duckdb_peak_rss_gb",
            f"{peer}_peak_rss_gb")  # fmt: skip
    return {**{k: found[k] for k in keys}, "ratio_min": min(found["ratios"]),
            "ratio_max": max(found["ratios"])}  # fmt: skip


DRIFT_KEYS = (
    "recall", "false_flags", "retrains_stable", "months_to_detection", "months_to_retrain",
    "months_to_psi_below_threshold", "months_to_performance_retrain",
)  # fmt: skip


def _value(summary: dict, path: tuple[str, ...]):
    """The figure at ``path``; None when this run did not measure it (``bench-small`` runs one
    drift scenario)."""
    for key in path:
        if key not in summary:
            return None
        summary = summary[key]
    return summary


def markdown(summary: dict) -> str:
    lines = [
        f"# Benchmarks ({summary['scale']['applications']:,} applications, "
        f"{summary['scale']['landed_rows']:,} landed rows)",
        "",
        f"| figure | before ({BEFORE_COMMIT}) | measured | target | met |",
        "|---|---|---|---|---|",
    ]
    for label, path, target, kind, before in TARGETS:
        value = _value(summary, path)
        bound = "≤" if kind == "max" else "≥"
        was = "—" if before is None else f"{before:,}"
        if value is None:
            lines.append(f"| {label} | {was} | not measured | {bound} {target:,} | — |")
            continue
        met = value <= target if kind == "max" else value >= target
        lines.append(
            f"| {label} | {was} | {value:,} | {bound} {target:,} | {'yes' if met else 'NO'} |"
        )
    quality = summary["model_quality"]
    ece_met = "yes" if quality["ece"] <= 0.01 else "NO"
    lines += [
        f"| test AUC (oracle) | 0.8213 (0.8267) | {quality['auc']:.4f} "
        f"({quality['oracle_auc']:.4f}) | gap ≤ 0.01 | "
        f"{'yes' if quality['oracle_auc'] - quality['auc'] <= 0.01 else 'NO'} |",
        f"| test ECE | 0.0041 | {quality['ece']:.4f} | ≤ 0.01 | {ece_met} |",
        "",
        "| stage | wall s | peak RSS GB |",
        "|---|---|---|",
    ]
    for name, stage in summary["scale"]["stages"].items():
        lines.append(f"| {name} | {stage['wall_s']} | {stage['peak_rss_gb']} |")
    lines.append(f"| process start (imports, instance) | {summary['scale']['start_s']} | |")
    imports, blocks = summary["startup_imports_s"], summary["predict_rows_per_s_by_block"]
    lines += [
        "",
        f"Start-up imports of a fresh process: {imports['compiled']} s with the venv's bytecode, "
        f"{imports['from_source']} s compiled from source.",
        "Prediction rows/s by block size: "
        + ", ".join(f"{size}: {rate:,}" for size, rate in blocks.items())
        + ".",
    ]
    lines += ["", "| drift scenario | recall | false flags | retrains in stable months "
              "| months to detection / retrain / PSI < 0.2 / performance retrain |",
              "|---|---|---|---|---|"]  # fmt: skip
    for name, result in summary["drift_quality"].items():
        recall = "n/a" if result["recall"] is None else f"{result['recall']:.2f}"
        delays = " / ".join(
            "-" if result.get(k) is None else str(result[k]) for k in DRIFT_KEYS[3:]
        )
        lines.append(
            f"| {name} | {recall} | {result['false_flags']} | {result['retrains_stable']} "
            f"| {delays} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--suffix", default="")
    args = parser.parse_args()
    summary = latest(
        _read(f"scale{args.suffix}"),
        _read(f"drift_quality{args.suffix}"),
        _read(f"serving{args.suffix}"),
    )
    text = markdown(summary)
    write_results(f"latest{args.suffix}", summary, text)
    print(text)


if __name__ == "__main__":
    main()
