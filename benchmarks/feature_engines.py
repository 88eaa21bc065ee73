"""Feature store side by side: DuckDB SQL vs Polars (lazy) vs pandas, same data, same run.

Run by ``benchmarks.scale`` on the warehouse its scale run just built.

Every engine computes the same 103 features for every month, one month at a time, each run in
a process of its own (its wall time and peak RSS are its own), ``repeats`` times in turn; each
ratio is reported as the median of the runs, with their min and max. DuckDB's time is its query
over its own storage, fetched as Arrow (its columnar result, as Polars keeps its own). Polars
and pandas first read the month's raw tables out of DuckDB (timed apart as ``load_s``: a kernel
would read CSVs, which is slower), then compute. Each run then checks its values against
DuckDB's (categoricals equal, numbers to rtol 1e-9), so no figure is of a different result.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd

from benchmarks.pandas_features import compare
from benchmarks.processes import own_peak_rss_gb
from creditplatform.features.store import feature_query
from creditplatform.warehouse.ingest import raw_month_frames

ENGINES = ("duckdb", "polars", "pandas")
PEERS = ("polars", "pandas")


def side_duckdb(warehouse: Path, months: list[str], out: Path) -> dict:
    started = time.perf_counter()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = [con.execute(feature_query(), {"month": m}).fetch_arrow_table() for m in months]
    seconds = time.perf_counter() - started
    peak = own_peak_rss_gb()
    pd.concat([t.to_pandas() for t in tables]).to_parquet(out)
    return {"seconds": seconds, "load_s": 0.0, "peak_rss_gb": peak}


def _peer(warehouse: Path, months: list[str], load, compute) -> tuple[list, float, float, float]:
    """(per-month results, load s, compute s, peak RSS GB): one month's tables at a time."""
    load_s = compute_s = 0.0
    results = []
    for month in months:
        started = time.perf_counter()
        with duckdb.connect(str(warehouse), read_only=True) as con:
            tables = load(con, month)
        load_s += time.perf_counter() - started
        started = time.perf_counter()
        results.append(compute(tables))
        compute_s += time.perf_counter() - started
        del tables
    return results, load_s, compute_s, own_peak_rss_gb()


def side_polars(warehouse: Path, months: list[str], out: Path) -> dict:
    from benchmarks.polars_features import feature_plan, raw_month_tables

    frames, load_s, compute_s, peak = _peer(
        warehouse, months, raw_month_tables, lambda tables: feature_plan(tables).collect()
    )
    result = pd.concat([f.to_pandas() for f in frames]).sort_values("SK_ID_CURR")
    return _checked(result.reset_index(drop=True), out, compute_s, load_s, peak)


def side_pandas(warehouse: Path, months: list[str], out: Path) -> dict:
    from benchmarks.pandas_features import feature_frame

    frames, load_s, compute_s, peak = _peer(warehouse, months, raw_month_frames, feature_frame)
    result = pd.concat(frames).sort_values("SK_ID_CURR").reset_index(drop=True)
    return _checked(result, out, compute_s, load_s, peak)


def _checked(result: pd.DataFrame, out: Path, seconds: float, load_s: float, peak: float) -> dict:
    return {"seconds": seconds, "load_s": load_s, "peak_rss_gb": peak, "rows": len(result),
            "differing_columns": compare(pd.read_parquet(out), result)}  # fmt: skip


SIDES = {"duckdb": side_duckdb, "polars": side_polars, "pandas": side_pandas}


def _run_side(side: str, warehouse: Path, months: list[str], out: Path) -> dict:
    command = [
        sys.executable, "-m", "benchmarks.feature_engines", "--side", side,
        "--warehouse", str(warehouse), "--out", str(out), "--months-list", ",".join(months),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _spread(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
            "max": round(max(values), 2)}  # fmt: skip


def _versus(peer: str, runs: list[dict]) -> dict:
    """DuckDB against one peer over the runs: each run's ratio is the peer's compute time over
    DuckDB's in the same round; ``ratio`` is their median."""
    ratios = [round(r[peer]["seconds"] / r["duckdb"]["seconds"], 2) for r in runs]
    memory = [r[peer]["peak_rss_gb"] / r["duckdb"]["peak_rss_gb"] for r in runs]
    differing: dict[str, int] = {}
    for r in runs:
        differing |= r[peer]["differing_columns"]
    return {
        "duckdb_s": round(statistics.median(r["duckdb"]["seconds"] for r in runs), 2),
        f"{peer}_s": round(statistics.median(r[peer]["seconds"] for r in runs), 2),
        f"{peer}_load_s": round(statistics.median(r[peer]["load_s"] for r in runs), 2),
        "ratio": statistics.median(ratios),
        "ratios": ratios,
        "ratio_spread": _spread(ratios),
        "duckdb_peak_rss_gb": round(statistics.median(r["duckdb"]["peak_rss_gb"] for r in runs), 2),
        f"{peer}_peak_rss_gb": round(statistics.median(r[peer]["peak_rss_gb"] for r in runs), 2),
        "memory_ratio": round(statistics.median(memory), 2),
        "rows": runs[0][peer]["rows"],
        "differing_columns": differing,
        "runs": len(runs),
    }


def compare_engines(warehouse: Path, months: list[str], workdir: Path, repeats: int = 3) -> dict:
    """Every engine ``repeats`` times on the same warehouse; per peer, the ratios to DuckDB."""
    out = workdir / "duckdb_features.parquet"
    runs = []
    for attempt in range(repeats):
        found = {side: _run_side(side, warehouse, months, out) for side in ENGINES}
        runs.append(found)
        print(f"feature engines, run {attempt + 1}/{repeats}: "
              + ", ".join(f"{s} {found[s]['seconds']:.2f}s" for s in ENGINES),
              file=sys.stderr, flush=True)  # fmt: skip
    out.unlink()
    return {peer: {"months": len(months), **_versus(peer, runs)} for peer in PEERS}


def markdown(found: dict) -> str:
    pandas_side, polars_side = found["pandas"], found["polars"]
    lines = [
        f"## Feature store: DuckDB SQL vs Polars vs pandas ({pandas_side['months']} months, "
        f"{pandas_side['rows']:,} feature rows, median of {pandas_side['runs']} runs)",
        "",
        "| engine | compute s | loading s (apart) | peak RSS GB | its time / DuckDB's "
        "(median; min–max) | same values |",
        "|---|---|---|---|---|---|",
        f"| DuckDB SQL | {pandas_side['duckdb_s']} | 0 (its own storage) | "
        f"{pandas_side['duckdb_peak_rss_gb']} | 1 | reference |",
    ]
    for name, side, key in (("Polars lazy", polars_side, "polars"),
                            ("pandas groupby/merge", pandas_side, "pandas")):  # fmt: skip
        spread = side["ratio_spread"]
        same = "yes" if not side["differing_columns"] else side["differing_columns"]
        lines.append(
            f"| {name} | {side[f'{key}_s']} | {side[f'{key}_load_s']} | "
            f"{side[f'{key}_peak_rss_gb']} | {side['ratio']}× ({spread['min']}–{spread['max']}; "
            f"runs {side['ratios']}) | {same} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--side", choices=ENGINES, required=True)
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--months-list", required=True)
    args = parser.parse_args()
    run = SIDES[args.side]
    print(json.dumps(run(Path(args.warehouse), args.months_list.split(","), Path(args.out))))


if __name__ == "__main__":
    main()
