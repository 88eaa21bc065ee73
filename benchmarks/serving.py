"""Load test of ``creditplatform serve``: a real uvicorn process on 127.0.0.1, real requests.

Builds a small platform in a temp dir (generated months, ingest, retrain: a champion), starts
the service as a user would, then sends single-applicant requests (one landed applicant each,
with all their child rows) from 1, 8 and 32 concurrent keep-alive clients, bounded in requests
and seconds, and batches to ``/v1/score/batch`` with and without reason codes. Latency is
measured by the client, from sending the request to reading the whole response.

    python -m benchmarks.serving [--applications-per-month 3000] [--name serving]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from benchmarks.common import write_results

# The loopback helpers the process tests use (a free port, wait until a URL answers).
from creditplatform_tests.dagster_dev import free_port, wait_for

REPO = Path(__file__).resolve().parents[1]
MONTHS = ("2024-01", "2024-02")


def _cli(env: dict, *args: str) -> None:
    subprocess.run([str(REPO / ".venv" / "bin" / "creditplatform"), *args], env=env, check=True)


def build_platform(root: Path, applications: int) -> dict:
    """Two ingested months and a champion trained on them; returns the environment to use."""
    from creditplatform.synthetic.generate import GenerateOptions, generate_history
    from creditplatform.warehouse.landing import land_month

    data, source = root / "data", root / "source"
    env = {
        **os.environ,
        "CREDITPLATFORM_DATA_DIR": str(data),
        "CREDITPLATFORM_DAGSTER_STORAGE": str(data / "dagster"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{data / 'mlflow' / 'mlflow.db'}",
        "CREDITPLATFORM_MIN_TRAINING_MONTHS": "2",
        "DAGSTER_HOME": str(REPO),
        "OMP_NUM_THREADS": "1",
    }
    generate_history(source, GenerateOptions(months=2, applications_per_month=applications))
    for month in MONTHS:
        land_month(source / "landing", data / "landing", month)
    _cli(env, "ingest")
    _cli(env, "retrain")
    status = subprocess.run(
        [str(REPO / ".venv" / "bin" / "creditplatform"), "status", "--json"],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    if json.loads(status.stdout)["champion"] is None:
        # The gates may reject a model trained on little data; serving speed does not depend
        # on which model it is, so the benchmark makes v1 champion by hand (audited).
        _cli(env, "promote", "--version", "1", "--reason", "serving benchmark")
    return env


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def load(port: int, bodies: list[bytes], clients: int, requests: int, seconds: float) -> dict:
    """``clients`` threads, each on its own keep-alive connection, until either bound is hit."""
    latencies: list[float] = []
    failures: list[int] = []
    counter = iter(range(requests))
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        con = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        headers = {"Content-Type": "application/json"}
        while time.monotonic() < deadline:
            with lock:
                index = next(counter, None)
            if index is None:
                break
            started = time.perf_counter()
            con.request("POST", "/v1/score", bodies[index % len(bodies)], headers)
            response = con.getresponse()
            response.read()
            elapsed = time.perf_counter() - started
            with lock:
                (latencies if response.status == 200 else failures).append(
                    elapsed if response.status == 200 else response.status
                )
        con.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {
        "clients": clients,
        "requests": len(latencies),
        "failed": len(failures),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 1),
        "requests_per_s": round(len(latencies) / wall, 1),
    }


def stage_seconds(port: int) -> dict[str, tuple[float, float]]:
    """(sum, count) of each scoring stage, from the service's own /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=60) as response:
        text = response.read().decode()
    found: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("creditplatform_scoring_stage_seconds_"):
                slot = found.setdefault(sample.labels["stage"], [0.0, 0.0])
                if sample.name.endswith("_sum"):
                    slot[0] = sample.value
                elif sample.name.endswith("_count"):
                    slot[1] = sample.value
    return {stage: (total, count) for stage, (total, count) in found.items()}


def _stage_ms(before: dict, after: dict) -> dict[str, float]:
    """Mean milliseconds per pass of each stage between two ``stage_seconds`` snapshots."""
    return {
        stage: round(
            (total - before.get(stage, (0.0, 0.0))[0])
            * 1000
            / (count - before.get(stage, (0.0, 0.0))[1]),
            1,
        )
        for stage, (total, count) in after.items()
    }


def batch(port: int, applicants: list[dict], size: int, rounds: int, reasons: bool) -> float:
    """Applicants per second through ``/v1/score/batch`` (``rounds`` calls of ``size``)."""
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    path = f"/v1/score/batch?reasons={'true' if reasons else 'false'}"
    total, started = 0, time.perf_counter()
    for round_ in range(rounds):
        chunk = applicants[round_ * size % len(applicants) :][:size]
        con.request("POST", path, json.dumps({"applicants": chunk}).encode(),
                    {"Content-Type": "application/json"})  # fmt: skip
        response = con.getresponse()
        body = response.read()
        assert response.status == 200, body[:500]
        total += len(chunk)
    con.close()
    return round(total / (time.perf_counter() - started), 1)


def run(applications: int, requests: int, seconds: float, batch_size: int) -> dict:
    from creditplatform.serving.examples import landing_requests

    with tempfile.TemporaryDirectory(prefix="creditplatform-serving-bench-") as tmp:
        env = build_platform(Path(tmp), applications)
        month_dir = Path(env["CREDITPLATFORM_DATA_DIR"]) / "landing" / MONTHS[-1]
        applicants = landing_requests(month_dir)
        bodies = [json.dumps(a).encode() for a in applicants]
        child_rows = {
            table: round(statistics.mean(len(a[table]) for a in applicants), 1)
            for table in applicants[0]
            if table != "application"
        }
        port = free_port()
        server = subprocess.Popen(
            [str(REPO / ".venv" / "bin" / "creditplatform"), "serve", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_for(f"http://127.0.0.1:{port}/ready", 300)
            load(port, bodies, 1, 10, seconds)  # warm-up: threads, connections, first plans
            before = stage_seconds(port)
            runs = {1: load(port, bodies, 1, requests, seconds)}
            after = stage_seconds(port)
            runs |= {c: load(port, bodies, c, requests, seconds) for c in (8, 32)}
            before_batch = stage_seconds(port)
            batch_plain = batch(port, applicants, batch_size, 4, reasons=False)
            after_batch = stage_seconds(port)
            batch_reasons = batch(port, applicants, batch_size, 2, reasons=True)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=120)
    return {
        "serving": {
            "p50_ms_1_client": runs[1]["p50_ms"],
            "p99_ms_8_clients": runs[8]["p99_ms"],
            "p99_ms_32_clients": runs[32]["p99_ms"],
            "requests_per_s_8_clients": runs[8]["requests_per_s"],
            "batch_applicants_per_s": batch_plain,
            "batch_applicants_per_s_with_reasons": batch_reasons,
            "batch_size": batch_size,
            "runs": list(runs.values()),
            # Mean ms of each stage of a scoring pass, as the service measured it: one client
            # (one pass per request), and the batch calls without reason codes.
            "single_request_stage_ms": _stage_ms(before, after),
            "batch_call_stage_ms": _stage_ms(before_batch, after_batch),
            "mean_child_rows_per_request": child_rows,
            "mean_request_kb": round(statistics.mean(len(b) for b in bodies) / 1024, 1),
            "applications_per_month": applications,
        }
    }


def markdown(result: dict) -> str:
    serving = result["serving"]
    lines = [
        "# Online scoring (creditplatform serve, one uvicorn process, 127.0.0.1)",
        "",
        "| clients | requests | failed | p50 ms | p99 ms | requests/s |",
        "|---|---|---|---|---|---|",
    ]
    for run_ in serving["runs"]:
        lines.append(
            f"| {run_['clients']} | {run_['requests']} | {run_['failed']} | {run_['p50_ms']} "
            f"| {run_['p99_ms']} | {run_['requests_per_s']} |"
        )
    lines += [
        "",
        f"Batch endpoint ({serving['batch_size']} applicants per call): "
        f"{serving['batch_applicants_per_s']} applicants/s without reason codes, "
        f"{serving['batch_applicants_per_s_with_reasons']} with.",
        "Mean ms per stage of a scoring pass (the service's own metrics): one client "
        + ", ".join(f"{k} {v}" for k, v in serving["single_request_stage_ms"].items())
        + f"; a {serving['batch_size']}-applicant batch call "
        + ", ".join(f"{k} {v}" for k, v in serving["batch_call_stage_ms"].items())
        + ".",
        f"Mean child rows per request: {serving['mean_child_rows_per_request']}; "
        f"mean request {serving['mean_request_kb']} KB.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--applications-per-month", type=int, default=3000)
    parser.add_argument("--requests", type=int, default=400, help="per concurrency level")
    parser.add_argument("--seconds", type=float, default=60, help="per concurrency level")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--name", default="serving")
    args = parser.parse_args()
    result = run(args.applications_per_month, args.requests, args.seconds, args.batch_size)
    text = markdown(result)
    write_results(args.name, result, text)
    print(text)


if __name__ == "__main__":
    main()
