"""Feature store side by side: DuckDB SQL vs vectorised pandas, same data, same run.

Each side runs in its own process so its wall time and peak RSS are its own. The pandas side
reads the month's raw tables out of DuckDB first (timed apart as ``load_s``: a kernel would read
CSVs, which is slower), then computes the same features; the benchmark then checks that both
give the same values (categoricals equal, numbers to rtol 1e-9) so the comparison is honest.

    python -m benchmarks.features_vs_pandas --months 12 --applications-per-month 25000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

from creditplatform.features.store import feature_query
from creditplatform.months import month_range
from creditplatform.warehouse.ingest import raw_month_frames


def _peak_rss_gb() -> float:
    """This process image's high-water RSS (VmHWM). getrusage's ru_maxrss is not used: Linux
    carries it across fork+exec, so a child would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1e6  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


def side_duckdb(warehouse: Path, months: list[str], out: Path) -> dict:
    started = time.perf_counter()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        frames = [con.execute(feature_query(), {"month": m}).df() for m in months]
    seconds = time.perf_counter() - started
    pd.concat(frames).to_parquet(out)
    return {"seconds": seconds, "peak_rss_gb": _peak_rss_gb()}


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
    peak = _peak_rss_gb()
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


def main() -> None:
    from benchmarks.common import write_results
    from creditplatform.synthetic.generate import GenerateOptions, generate_history
    from creditplatform.warehouse.ingest import ingest_month

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--applications-per-month", type=int, default=25_000)
    parser.add_argument("--side", choices=["duckdb", "pandas"])
    parser.add_argument("--warehouse")
    parser.add_argument("--out")
    parser.add_argument("--months-list")
    parser.add_argument("--name", default="features_vs_pandas")
    args = parser.parse_args()
    if args.side:
        run = side_duckdb if args.side == "duckdb" else side_pandas
        print(json.dumps(run(Path(args.warehouse), args.months_list.split(","), Path(args.out))))
        return
    months = month_range("2024-01", args.months)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        options = GenerateOptions(
            months=args.months, applications_per_month=args.applications_per_month
        )
        generate_history(data, options)
        for month in months:
            assert ingest_month(data / "w.duckdb", data / "landing", month).published
        duck = _run_side("duckdb", data / "w.duckdb", months, data / "duck.parquet")
        pandas_side = _run_side("pandas", data / "w.duckdb", months, data / "duck.parquet")
    result = {
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
    text = (
        f"# Feature store: DuckDB SQL vs pandas ({args.months} months x "
        f"{args.applications_per_month:,} applications, {result['rows']:,} feature rows)\n\n"
        "| side | compute s | peak RSS GB |\n|---|---|---|\n"
        f"| DuckDB SQL | {result['duckdb_s']} | {result['duckdb_peak_rss_gb']} |\n"
        f"| pandas groupby/merge | {result['pandas_s']} (+{result['pandas_load_s']} s loading) | "
        f"{result['pandas_peak_rss_gb']} |\n\n"
        f"pandas / DuckDB: {result['ratio']}x time, {result['memory_ratio']}x memory. "
        f"Same values: {'yes' if not result['differing_columns'] else result['differing_columns']}"
    )
    write_results(args.name, {"features_vs_pandas": result}, text)
    print(text)


if __name__ == "__main__":
    main()
