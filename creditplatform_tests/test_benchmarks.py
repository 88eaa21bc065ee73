"""The benchmark harness measures what it says: the whole process tree, and the promised keys.

Timings are never asserted (they live in ``benchmarks/results``); what is tested is that the
measuring is right and that the committed summary carries the keys docs/architecture.md §7 lists.
"""

from __future__ import annotations

import json
import os
import sys

from benchmarks import scaling, summary
from benchmarks.common import RESULTS
from benchmarks.processes import run_measured

GRANDCHILD = "b = bytearray(400_000_000); import time; time.sleep(1.5)"
PARENT = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {GRANDCHILD!r}])"


def test_peak_rss_includes_grandchildren():
    """A 400 MB grandchild: its parent's own VmHWM stays small; the tree's peak must not."""
    measured = run_measured([sys.executable, "-c", PARENT], dict(os.environ), interval=0.05)
    assert measured.peak_rss_gb >= 0.4
    assert measured.wall_s >= 1.5


def test_committed_summary_has_the_promised_keys():
    """The committed latest.json is what ``summary`` derives from the committed results, and it
    carries every key docs/architecture.md §7 lists."""
    latest = json.loads((RESULTS / "latest.json").read_text())
    scale, drift, serving = (
        json.loads((RESULTS / f"{n}.json").read_text())
        for n in ("scale", "drift_quality", "serving")
    )
    derived = summary.latest(scale, drift, serving)
    assert {k: latest[k] for k in derived} == derived
    assert {"machine", "git_commit", "incremental_month_s", "scoring_rows_per_s"} <= set(latest)
    assert {"total_wall_s", "peak_rss_gb", "stages"} <= set(latest["scale"])
    stages = {"ingest", "features", "splits", "train", "evaluate", "drift", "promote", "score"}
    assert set(latest["scale"]["stages"]) == stages
    assert set(summary.SERVING_KEYS) <= set(latest["serving"])
    assert all("wall_s" in stage for stage in latest["scale"]["stages"].values())
    assert {"duckdb_s", "pandas_s", "ratio", "ratios"} <= set(latest["features_vs_pandas"])
    polars = latest["features_vs_polars"]
    assert {"duckdb_s", "polars_s", "ratio", "ratios"} <= set(polars)
    for engines in (latest["features_vs_pandas"], polars):  # the ratio is the runs' median
        assert len(engines["ratios"]) == 3 and engines["ratio"] == sorted(engines["ratios"])[1]
    assert {"scoring_run_rows_per_s", "ingest_month_median_s", "drift_month_median_s"} <= set(
        latest
    )
    assert {"auc", "oracle_auc", "brier", "oracle_brier", "ece"} <= set(latest["model_quality"])
    for scenario in latest["drift_quality"].values():
        assert {"recall", "false_flags", "retrains_stable"} <= set(scenario)
    assert latest["drift_stable_retrains_max"] == max(
        s["retrains_stable"] for s in latest["drift_quality"].values()
    )
    assert {"cores", "ram_gb"} <= set(latest["machine"])
    # make bench runs the same months through the same graph on the production profile too.
    production = latest["production"]
    assert set(production["stages"]) == stages
    assert latest["production_vs_local"] == round(
        production["total_wall_s"] / latest["scale"]["total_wall_s"], 2
    )


def test_scaling_names_the_stage_whose_added_cost_grows():
    """``make bench-scaling``'s analysis: a stage with a fixed cost plus a cost per row is linear
    (its fixed cost is the intercept); one whose added cost per row doubles is named; two
    factors or a stage too small to matter are not judged."""
    rows = [58.1e6, 116.2e6, 232.4e6]  # 1x, 2x, 4x Home Credit landed rows

    def stage(seconds: list[float], gb: list[float], upto: int = 3) -> list[dict]:
        return [{"landed_rows": r, "wall_s": s, "peak_rss_gb": g}
                for r, s, g in list(zip(rows, seconds, gb, strict=True))[:upto]]  # fmt: skip

    linear = [20 + 1.5 * r / 1e6 for r in rows]  # 20 s of Dagster runs, 1.5 s per million rows
    squared = [
        round(0.1 * (r / 1e6) ** 2 / 58.1, 2) for r in rows
    ]  # the added cost per row doubles
    found = scaling.analyse(
        {"ingest": stage(linear, [1.4, 2.6, 5.0]), "train": stage(squared, [1.5, 3.0, 6.0])}
    )
    ingest, train = found["stages"]["ingest"], found["stages"]["train"]
    assert ingest["slope_s_per_million_rows"] == 1.5 and ingest["intercept_s"] == 20.0
    assert ingest["marginal_growth"] == 1.0
    assert train["marginal_growth"] == 2.0 > scaling.NOT_LINEAR
    assert found["first_not_linear"] == "train"
    assert train["peak_rss_gb"] == [1.5, 3.0, 6.0]
    tiny = [s / 1000 for s in squared]  # grows as fast, but 0.1 s of a 370 s graph
    small = scaling.analyse({"ingest": stage(linear, [1] * 3), "promote": stage(tiny, [1] * 3)})
    assert small["first_not_linear"] is None
    two = scaling.analyse({"train": stage(squared, [1] * 3, upto=2)})
    assert two["stages"]["train"]["marginal_growth"] is None and two["first_not_linear"] is None
    runs = [{"factor": f, "applications": 307_512 * f, "landed_rows": int(r), "peak_rss_gb": 2.0}
            for f, r in zip((1, 2, 4), rows, strict=True)]  # fmt: skip
    text = scaling.markdown({"months": 12, "runs": runs, **found})
    assert "| train | 5.81 / 1.5 | 23.24 / 3.0 | 92.96 / 6.0 |" in text
    assert "First stage to stop being linear: **train**" in text
