"""The benchmark harness measures what it says: the whole process tree, and the promised keys.

Timings are never asserted (they live in ``benchmarks/results``); what is tested is that the
measuring is right and that the committed summary carries the keys docs/architecture.md §7 lists.
"""

from __future__ import annotations

import json
import os
import sys

from benchmarks import summary
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
