"""Feature store side by side: DuckDB SQL vs vectorised pandas, same data, same run.

Run by ``benchmarks.scale`` on the warehouse its scale run just built.

Each side runs in its own process so its wall time and peak RSS are its own. The pandas side
reads the month's raw tables out of DuckDB first (timed apart as ``load_s``: a kernel would read
CSVs, which is slower), then computes the same features; the benchmark then checks that both
give the same values (categoricals equal, numbers to rtol 1e-9) so the comparison is honest.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd

from benchmarks.processes import own_peak_rss_gb
from creditplatform.features.store import feature_query
from creditplatform.warehouse.ingest import raw_month_frames


def side_duckdb(warehouse: Path, months: list[str], out: Path) -> dict:
    started = time.perf_counter()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        frames = [con.execute(feature_query(), {"month": m}).df() for m in months]
    seconds = time.perf_counter() - started
    pd.concat(frames).to_parquet(out)
    return {"seconds": seconds, "peak_rss_gb": own_peak_rss_gb()}


def side_pandas(warehouse: Path, months: list[str], out: Path) -> dict:
    from benchmarks.pandas_features import compare, feature_frame

    load_s = compute_s = 0.0
    frames = []
    for month in months:
        started = time.perf_counter()
        with duckdb.connect(str(warehouse), read_only=True) as con:
            tables = raw_month_frames(con, month)
        load_s += time.perf_counter() - started
        started = time.perf_counter()
        frames.append(feature_frame(tables))
        compute_s += time.perf_counter() - started
        del tables
    peak = own_peak_rss_gb()
    result = pd.concat(frames).sort_values("SK_ID_CURR").reset_index(drop=True)
    duck = pd.read_parquet(out)
    return {"seconds": compute_s, "load_s": load_s, "peak_rss_gb": peak,
            "differing_columns": compare(duck, result), "rows": len(result)}  # fmt: skip


def _run_side(side: str, warehouse: Path, months: list[str], out: Path) -> dict:
    command = [
        sys.executable, "-m", "benchmarks.features_vs_pandas", "--side", side,
        "--warehouse", str(warehouse), "--out", str(out), "--months-list", ",".join(months),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(warehouse: Path, months: list[str], workdir: Path) -> dict:
    """Both sides on the same warehouse, each in its own process; their ratio of time and RSS."""
    out = workdir / "duckdb_features.parquet"
    duck = _run_side("duckdb", warehouse, months, out)
    pandas_side = _run_side("pandas", warehouse, months, out)
    out.unlink()
    return {
        "months": len(months),
        "duckdb_s": round(duck["seconds"], 2),
        "pandas_s": round(pandas_side["seconds"], 2),
        "pandas_load_s": round(pandas_side["load_s"], 2),
        "ratio": round(pandas_side["seconds"] / duck["seconds"], 2),
        "duckdb_peak_rss_gb": round(duck["peak_rss_gb"], 2),
        "pandas_peak_rss_gb": round(pandas_side["peak_rss_gb"], 2),
        "memory_ratio": round(pandas_side["peak_rss_gb"] / duck["peak_rss_gb"], 2),
        "rows": pandas_side["rows"],
        "differing_columns": pandas_side["differing_columns"],
    }


def markdown(result: dict) -> str:
    same = "yes" if not result["differing_columns"] else result["differing_columns"]
    return (
        f"## Feature store: DuckDB SQL vs pandas ({result['months']} months, "
        f"{result['rows']:,} feature rows)\n\n"
        "| side | compute s | peak RSS GB |\n|---|---|---|\n"
        f"| DuckDB SQL | {result['duckdb_s']} | {result['duckdb_peak_rss_gb']} |\n"
        f"| pandas groupby/merge | {result['pandas_s']} (+{result['pandas_load_s']} s loading) | "
        f"{result['pandas_peak_rss_gb']} |\n\n"
        f"pandas / DuckDB: {result['ratio']}x time, {result['memory_ratio']}x memory. "
        f"Same values: {same}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--side", choices=["duckdb", "pandas"], required=True)
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--months-list", required=True)
    args = parser.parse_args()
    run = side_duckdb if args.side == "duckdb" else side_pandas
    print(json.dumps(run(Path(args.warehouse), args.months_list.split(","), Path(args.out))))


if __name__ == "__main__":
    main()
