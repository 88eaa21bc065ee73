"""Monthly ingests launched at once, production profile vs local: wall time and failures.

Each ingest is its own process (``creditplatform ingest --month``), the way several sensors,
schedules or people start runs; the instance's `warehouse` pool decides how many write at once
(local: 1, since one process may hold the DuckDB file; production: 2, DuckLake's concurrent
writers). Three arms on the same generated months, each on a fresh warehouse and instance:

- production, serial: the months one after another (the baseline);
- production, concurrent: all months launched at once;
- local, concurrent: all months launched at once on the DuckDB file.

A throwaway PostgreSQL cluster (Debian's package) holds the production arms' databases.
Target (issue 14): 0 failures, and 2 concurrent writers at most 0.7 x the serial wall time.

    python -m benchmarks.concurrency --months 4 --applications-per-month 25626
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.common import production_env, write_results
from creditplatform import local_postgres
from creditplatform.months import month_range
from creditplatform.settings import REPO_ROOT
from creditplatform.synthetic.generate import GenerateOptions, generate_history
from creditplatform.warehouse.landing import land_month

TARGET_RATIO = 0.7


def _arm_env(data: Path, cluster: local_postgres.Cluster | None) -> dict[str, str]:
    env = {
        **os.environ,
        "CREDITPLATFORM_DATA_DIR": str(data),
        "CREDITPLATFORM_DAGSTER_STORAGE": str(data / "dagster"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "OMP_NUM_THREADS": "1",
    }
    if cluster is None:
        return {**env, "CREDITPLATFORM_PROFILE": "local", "DAGSTER_HOME": str(REPO_ROOT)}
    return {**env, **production_env(cluster, f"b{uuid.uuid4().hex[:10]}")}


def _ingest(month: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "creditplatform.cli", "ingest", "--month", month],
        env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _arm(source: Path, root: Path, months: list[str], cluster, concurrent: bool) -> dict:
    data = root / uuid.uuid4().hex[:8]
    for month in months:
        land_month(source / "landing", data / "landing", month)
    env = _arm_env(data, cluster)
    # The first process to open a new instance or lake creates its tables; that one-time cost
    # is not what is measured, so a no-op command opens both first.
    subprocess.run([sys.executable, "-m", "creditplatform.cli", "status"], env=env,
                   cwd=REPO_ROOT, capture_output=True, check=False)  # fmt: skip
    started = time.perf_counter()
    if concurrent:
        procs = [_ingest(m, env) for m in months]
        outputs = [p.communicate()[0] for p in procs]
    else:
        procs, outputs = [], []
        for month in months:
            procs.append(_ingest(month, env))
            outputs.append(procs[-1].communicate()[0])
    seconds = time.perf_counter() - started
    failed = [m for m, p in zip(months, procs, strict=True) if p.returncode != 0]
    for month, output in zip(months, outputs, strict=True):
        if month in failed:
            print(f"--- {month} failed:\n{output[-3000:]}", file=sys.stderr)
    shutil.rmtree(data, ignore_errors=True)
    return {"seconds": round(seconds, 1), "failures": len(failed), "failed_months": failed}


def run(months: int, applications: int) -> dict:
    root = Path(tempfile.mkdtemp(prefix="creditplatform-concurrency-"))
    # Its own temp dir: the server runs as `postgres`, which cannot enter root's private one.
    cluster = local_postgres.start(Path(tempfile.mkdtemp(prefix="creditplatform-postgres-")))
    try:
        source = root / "source"
        generate_history(source, GenerateOptions(months=months, applications_per_month=applications,
                                                 seed=8))  # fmt: skip
        keys = month_range("2024-01", months)
        arms = {
            "production_serial": _arm(source, root, keys, cluster, concurrent=False),
            "production_concurrent": _arm(source, root, keys, cluster, concurrent=True),
            "local_concurrent": _arm(source, root, keys, None, concurrent=True),
        }
    finally:
        cluster.stop()
        shutil.rmtree(cluster.directory, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
    ratio = arms["production_concurrent"]["seconds"] / arms["production_serial"]["seconds"]
    return {
        "months": months,
        "applications_per_month": applications,
        "production_writers": 2,
        "arms": arms,
        "concurrent_vs_serial": round(ratio, 2),
        "target_ratio": TARGET_RATIO,
        "target_met": ratio <= TARGET_RATIO and not any(a["failures"] for a in arms.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--months", type=int, default=4)
    parser.add_argument("--applications-per-month", type=int, default=25626)
    parser.add_argument("--name", default="concurrency")
    args = parser.parse_args()
    result = run(args.months, args.applications_per_month)
    rows = "\n".join(
        f"| {name} | {arm['seconds']} | {arm['failures']} |" for name, arm in result["arms"].items()
    )
    markdown = (
        f"# {result['months']} monthly ingests x {result['applications_per_month']:,} "
        "applications, launched at once\n\n| arm | wall s | failures |\n|---|---|---|\n"
        f"{rows}\n\nproduction concurrent / serial: {result['concurrent_vs_serial']} "
        f"(target <= {TARGET_RATIO}; met: {result['target_met']})"
    )
    write_results(args.name, result, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
