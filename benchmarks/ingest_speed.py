"""How long one landing month takes to ingest: stage the seven CSVs, run every contract, publish.

Generates one month (cached per size under the temp dir), then ingests it ``--repeats`` times,
each into a fresh warehouse, and reports the median. ``--code`` times another checkout of the
package instead (e.g. ``git worktree add /tmp/before <commit>``), so a before/after figure is
one command each on the same data:

    python -m benchmarks.ingest_speed --applications-per-month 25626
    python -m benchmarks.ingest_speed --code /tmp/before --name ingest_speed_before
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import write_results

START = "2024-01"


def run(applications: int, repeats: int, code: Path | None, months_before: int = 0) -> dict:
    if code is not None:
        sys.path.insert(0, str(code.resolve()))
    from creditplatform.months import month_range
    from creditplatform.synthetic.generate import GenerateOptions, generate_history
    from creditplatform.warehouse.engine import WarehouseLocation
    from creditplatform.warehouse.ingest import ingest_month

    *earlier, month = month_range(START, months_before + 1)
    data = Path(tempfile.gettempdir()) / f"creditplatform-ingest-bench-{applications}"
    data = data.with_name(f"{data.name}-{months_before + 1}m")
    if not (data / "landing" / month / "_SUCCESS").exists():
        options = GenerateOptions(months=months_before + 1, applications_per_month=applications)
        generate_history(data, options)
    landing = data / "landing"
    base = data / "base.duckdb"  # the earlier months, published by the code being timed
    base.unlink(missing_ok=True)
    with WarehouseLocation(base).connect() as con:
        for key in earlier:
            assert ingest_month(con, landing, key).published
    seconds, phases = [], []
    for attempt in range(repeats):
        warehouse = data / f"bench-{attempt}.duckdb"
        shutil.copyfile(base, warehouse)
        with WarehouseLocation(warehouse).connect() as con:  # as the platform opens it
            started = time.perf_counter()
            result = ingest_month(con, landing, month)
            seconds.append(time.perf_counter() - started)
        phases.append(getattr(result, "phase_seconds", {}))  # older code (--code) has none
        assert result.published, result.failure_message()
        warehouse.unlink()
    base.unlink()
    rows = sum(r.rows for r in result.reports.values())
    size = sum(p.stat().st_size for p in (landing / month).glob("*.csv"))
    return {
        "applications": applications,
        "months_before": months_before,
        "landed_rows": rows,
        "csv_mb": round(size / 1e6, 1),
        "seconds": [round(s, 2) for s in seconds],
        "median_seconds": round(statistics.median(seconds), 2),
        "rows_per_second": round(rows / statistics.median(seconds)),
        # Wall and process-CPU seconds per phase of the median run: CPU near 2x wall on 2 cores
        # means the phase is bound by the cores.
        "median_run_phases": phases[seconds.index(statistics.median_low(seconds))],
        "code": str(code.resolve()) if code else "this checkout",
        "code_commit": _commit(code or Path(__file__).parent),
    }


def _commit(folder: Path) -> str:
    """The commit of the package that was timed (``--code`` may be another checkout)."""
    found = subprocess.run(
        ["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return found.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--applications-per-month", type=int, default=25626)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--months-before", type=int, default=0,
                        help="months published before the timed one")  # fmt: skip
    parser.add_argument("--code", type=Path, help="another checkout of the package to time")
    parser.add_argument("--name", default="ingest_speed")
    args = parser.parse_args()
    result = run(args.applications_per_month, args.repeats, args.code, args.months_before)
    table = (
        "| applications | landed rows | CSV MB | median s | rows/s | runs (s) |\n"
        "|---|---|---|---|---|---|\n"
        f"| {result['applications']:,} | {result['landed_rows']:,} | {result['csv_mb']} | "
        f"{result['median_seconds']} | {result['rows_per_second']:,} | {result['seconds']} |"
    )
    phases = ", ".join(
        f"{name} {p['wall']} s wall / {p['cpu']} s CPU"
        for name, p in result["median_run_phases"].items()
    )
    markdown = (
        f"# Ingest of one month after {result['months_before']} published ones (code at "
        f"commit {result['code_commit'][:7]})\n\n{table}\n\n"
        f"Phases of the median run (CPU: the whole process, every thread): {phases or 'n/a'}."
    )
    write_results(args.name, result, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
