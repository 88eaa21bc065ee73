"""Load test of ``creditplatform serve``: real uvicorn processes on 127.0.0.1, real requests.

Builds a small platform in a temp dir (generated months, ingest, retrain: a champion), starts
the service as a user would (with an API key), then sends single-applicant requests (one landed
applicant each, with all their child rows) from 1, 8 and 32 concurrent keep-alive clients,
bounded in requests and seconds, and batches to ``/v1/score/batch`` with and without reason
codes. Latency is measured by the client, from sending the request to reading the whole
response.

With ``--baseline REF`` the same run also starts the service of commit REF (a git worktree,
the same virtualenv, a copy of the same data dir and champion) and measures the two in turns,
A (this code) then B (REF), round after round, so drift of the machine's speed hits both
alike; each figure is reported for both with the ratio B/A. The run first checks that A and B
answer alike: the same PDs and reason codes for the same applicants, alone and in a batch,
and the same 422 body for every bad request of ``creditplatform_tests.bad_requests``.

With ``--shadow`` the same run also starts this code's service on a copy of the data dir
where a challenger exists (a second model that passed its gates), so every request is also
scored by it off the response path: arm S, measured in turns with A, and the cost of the
shadow reported as S/A.

    python -m benchmarks.serving [--applications-per-month 3000] [--baseline REF] [--shadow]
        [--name serving]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
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
    if _status(env)["champion"] is None:
        # The gates may reject a model trained on little data; serving speed does not depend
        # on which model it is, so the benchmark makes v1 champion by hand (audited).
        _cli(env, "promote", "--version", "1", "--reason", "serving benchmark")
    return env


def _status(env: dict) -> dict:
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "creditplatform"), "status", "--json"],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(done.stdout)


def _env_at(env: dict, data: Path) -> dict:
    """``env`` pointed at another data dir (its Dagster storage and MLflow store with it)."""
    return {
        **env,
        "CREDITPLATFORM_DATA_DIR": str(data),
        "CREDITPLATFORM_DAGSTER_STORAGE": str(data / "dagster"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{data / 'mlflow' / 'mlflow.db'}",
    }


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def load(
    port: int, bodies: list[bytes], clients: int, requests: int, seconds: float, headers: dict
) -> tuple[list[float], list[int], float]:
    """``clients`` threads, each on its own keep-alive connection, until either bound is hit:
    (latencies of the 200s, statuses of the others, wall seconds)."""
    latencies: list[float] = []
    failures: list[int] = []
    counter = iter(range(requests))
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        con = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        sent = {"Content-Type": "application/json", **headers}
        while time.monotonic() < deadline:
            with lock:
                index = next(counter, None)
            if index is None:
                break
            started = time.perf_counter()
            con.request("POST", "/v1/score", bodies[index % len(bodies)], sent)
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
    return latencies, failures, time.perf_counter() - started


def figures(clients: int, latencies: list[float], failures: list[int], wall: float) -> dict:
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


def batch_bodies(applicants: list[dict], size: int, count: int) -> list[tuple[int, bytes]]:
    """``count`` batch bodies of ``size`` applicants (encoded once, outside any timing)."""
    chunks = [applicants[i * size % len(applicants) :][:size] for i in range(count)]
    return [(len(c), json.dumps({"applicants": c}).encode()) for c in chunks]


def batch(port: int, bodies: list[tuple[int, bytes]], reasons: bool, headers: dict
          ) -> tuple[int, float]:  # fmt: skip
    """(applicants, seconds) through ``/v1/score/batch``, one call per body in turn."""
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    path = f"/v1/score/batch?reasons={'true' if reasons else 'false'}"
    total, started = 0, time.perf_counter()
    for size, body in bodies:
        con.request("POST", path, body, {"Content-Type": "application/json", **headers})
        response = con.getresponse()
        answer = response.read()
        assert response.status == 200, answer[:500]
        total += size
    con.close()
    return total, time.perf_counter() - started


def _post(port: int, path: str, body: bytes, headers: dict) -> tuple[int, dict]:
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    con.request("POST", path, body, {"Content-Type": "application/json", **headers})
    response = con.getresponse()
    answer = (response.status, json.loads(response.read()))
    con.close()
    return answer


def differences(ports: dict[str, int], applicants: list[dict], headers: dict) -> list[str]:
    """Where B answers otherwise than A: PDs and reasons (alone and in a batch), 422 bodies."""
    from creditplatform_tests.bad_requests import batch_bodies, single_bodies, without_request_id

    cases = [(f"single {i}", "/v1/score", json.dumps(a).encode())
             for i, a in enumerate(applicants[:40])]  # fmt: skip
    cases.append(("batch of 200", "/v1/score/batch",
                  json.dumps({"applicants": applicants[:200]}).encode()))  # fmt: skip
    cases += [(name, "/v1/score", body) for name, body in single_bodies(applicants).items()]
    cases += [(name, "/v1/score/batch", body) for name, body in batch_bodies(applicants).items()]
    found = []
    for name, path, body in cases:
        a, b = (_post(ports[arm], path, body, headers) for arm in ("A", "B"))
        where = _first_difference([a[0], without_request_id(a[1])],
                                  [b[0], without_request_id(b[1])])  # fmt: skip
        if where:
            found.append(f"{name}: {where}")
    return found


def _first_difference(a: object, b: object, path: str = "") -> str:
    """The first place two JSON values differ, as ``path: A value / B value`` ('' if none)."""
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        return next((d for k in a if (d := _first_difference(a[k], b[k], f"{path}.{k}"))), "")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return next((d for i, (x, y) in enumerate(zip(a, b, strict=True))
                     if (d := _first_difference(x, y, f"{path}[{i}]"))), "")  # fmt: skip
    return "" if a == b else f"{path or '.'}: A {str(a)[:120]} / B {str(b)[:120]}"


def _imported_from(env: dict, code: Path) -> str:
    """Where ``creditplatform`` comes from when run as the service is (asserted, reported)."""
    found = subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), "-c",
         "import creditplatform; print(creditplatform.__file__)"],
        env={**env, "PYTHONPATH": str(code)}, cwd=code, check=True, capture_output=True,
        text=True,
    ).stdout.strip()  # fmt: skip
    assert found.startswith(str(code)), f"{found} is not under {code}"
    return found


class Service:
    """``creditplatform serve`` of this code (``code`` None) or of a worktree, on a free port."""

    def __init__(self, env: dict, code: Path | None) -> None:
        self.port = free_port()
        # ``python -m`` puts the working directory first on sys.path: run in the code's own
        # tree (and name it on PYTHONPATH), or the package imported is the repo's.
        code = code or REPO
        self.process = subprocess.Popen(
            [str(REPO / ".venv" / "bin" / "python"), "-m", "creditplatform.cli", "serve",
             "--port", str(self.port)],
            env={**env, "PYTHONPATH": str(code)}, cwd=code,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(f"http://127.0.0.1:{self.port}/ready", 300)
        self.code = _imported_from(env, code)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=120)


def _baseline(root: Path, ref: str) -> tuple[Path, str]:
    """A worktree of ``ref`` under ``root`` and its full commit."""
    commit = subprocess.run(["git", "rev-parse", ref], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    subprocess.run(["git", "worktree", "add", "--detach", str(root), commit], cwd=REPO,
                   check=True, capture_output=True)  # fmt: skip
    return root, commit


def _measure(
    ports: dict[str, int],
    bodies: list[bytes],
    batches: list[tuple[int, bytes]],
    headers: dict,
    requests: int,
    seconds: float,
    rounds: int,
) -> dict[str, dict]:
    """Every figure for each arm, the arms measured in turns within each round."""
    arms = list(ports)
    collected = {arm: {c: ([], [], 0.0) for c in (1, 8, 32)} for arm in arms}
    done_by = {arm: {False: [0, 0.0], True: [0, 0.0]} for arm in arms}
    for _ in range(rounds):
        for clients in (1, 8, 32):
            for arm in arms:
                got = load(ports[arm], bodies, clients, requests // rounds, seconds / rounds,
                           headers)  # fmt: skip
                old = collected[arm][clients]
                collected[arm][clients] = (old[0] + got[0], old[1] + got[1], old[2] + got[2])
        for reasons in (False, True):
            for arm in arms:
                done, spent = batch(ports[arm], batches, reasons, headers)
                done_by[arm][reasons][0] += done
                done_by[arm][reasons][1] += spent
    found = {}
    for arm in arms:
        runs = {c: figures(c, *collected[arm][c]) for c in (1, 8, 32)}
        found[arm] = {
            "p50_ms_1_client": runs[1]["p50_ms"],
            "p99_ms_8_clients": runs[8]["p99_ms"],
            "p99_ms_32_clients": runs[32]["p99_ms"],
            "requests_per_s_8_clients": runs[8]["requests_per_s"],
            "batch_applicants_per_s": round(done_by[arm][False][0] / done_by[arm][False][1], 1),
            "batch_applicants_per_s_with_reasons": round(
                done_by[arm][True][0] / done_by[arm][True][1], 1
            ),
            "runs": list(runs.values()),
        }
    return found


COMPARED = (
    "p50_ms_1_client", "p99_ms_8_clients", "p99_ms_32_clients", "requests_per_s_8_clients",
    "batch_applicants_per_s", "batch_applicants_per_s_with_reasons",
)  # fmt: skip


def _with_challenger(env: dict, root: Path) -> dict:
    """A copy of the platform in ``env`` where a second model is challenger (shadowing v1)."""
    data = root / "data_shadow"
    shutil.copytree(env["CREDITPLATFORM_DATA_DIR"], data)
    # The small benchmark months hold fewer defaults than a real decision needs; the
    # challenger only has to exist for the service to shadow it.
    shadow = {**_env_at(env, data), "CREDITPLATFORM_GATE_MIN_DEFAULTS": "2"}
    _cli(shadow, "retrain")
    if _status(shadow)["challenger"] is None:
        raise SystemExit("serving benchmark: the shadow arm's retrain made no challenger")
    return shadow


def run(
    applications: int,
    requests: int,
    seconds: float,
    batch_size: int,
    baseline: str | None,
    rounds: int,
    shadow: bool = False,
) -> dict:
    from creditplatform.serving.examples import landing_requests

    with tempfile.TemporaryDirectory(prefix="creditplatform-serving-bench-") as tmp:
        env = build_platform(Path(tmp), applications)
        data = Path(env["CREDITPLATFORM_DATA_DIR"])
        key = subprocess.run(
            [str(REPO / ".venv" / "bin" / "creditplatform"), "serve-keys", "create", "bench"],
            env=env, check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        headers = {"Authorization": f"Bearer {key}"}
        applicants = landing_requests(data / "landing" / MONTHS[-1])
        bodies = [json.dumps(a).encode() for a in applicants]
        batches = batch_bodies(applicants, batch_size, 2)
        child_rows = {
            table: round(statistics.mean(len(a[table]) for a in applicants), 1)
            for table in applicants[0]
            if table != "application"
        }
        services = {"A": Service(env, None)}
        compared: dict = {}
        try:
            if baseline:
                code, commit = _baseline(Path(tmp) / "baseline", baseline)
                data_b = Path(tmp) / "data_b"
                env_b = _env_at(env, data_b)
                shutil.copytree(data, data_b)
                services["B"] = Service(env_b, code)
                ports = {arm: s.port for arm, s in services.items()}
                compared = {"ref": baseline, "commit": commit,
                            "differences": differences(ports, applicants, headers)}  # fmt: skip
            if shadow:
                services["S"] = Service(_with_challenger(env, Path(tmp)), None)
            ports = {arm: s.port for arm, s in services.items()}
            for port in ports.values():  # warm-up: threads, connections, prepared statements
                load(port, bodies, 8, 40, seconds, headers)
                batch(port, batches[:1], True, headers)
            before = stage_seconds(ports["A"])
            load(ports["A"], bodies, 1, 20, seconds, headers)
            after = stage_seconds(ports["A"])
            batch(ports["A"], batches[:1], False, headers)
            after_batch = stage_seconds(ports["A"])
            found = _measure(ports, bodies, batches, headers, requests, seconds, rounds)
        finally:
            services_code = {arm: service.code for arm, service in services.items()}
            for service in services.values():
                service.stop()
            if baseline:
                worktree = str(Path(tmp) / "baseline")
                subprocess.run(["git", "worktree", "remove", "--force", worktree], cwd=REPO,
                               check=False, capture_output=True)  # fmt: skip
    serving = {
        **found["A"],
        "batch_size": batch_size,
        # Mean ms of each stage of a scoring pass, as the service measured it: one client
        # (one pass per request), and a batch call without reason codes.
        "single_request_stage_ms": _stage_ms(before, after),
        "batch_call_stage_ms": _stage_ms(after, after_batch),
        "mean_child_rows_per_request": child_rows,
        "mean_request_kb": round(statistics.mean(len(b) for b in bodies) / 1024, 1),
        "applications_per_month": applications,
    }
    if baseline:
        serving["vs_baseline"] = {
            **compared,
            "baseline": {k: found["B"][k] for k in COMPARED},
            "baseline_runs": found["B"]["runs"],
            "ratio_b_over_a": {k: round(found["B"][k] / found["A"][k], 2) for k in COMPARED},
            "package_paths": {"A": services_code["A"], "B": services_code["B"]},
            "rounds": rounds,
        }
    if shadow:
        serving["with_shadow"] = {
            "figures": {k: found["S"][k] for k in COMPARED},
            "runs": found["S"]["runs"],
            "ratio_s_over_a": {k: round(found["S"][k] / found["A"][k], 2) for k in COMPARED},
            "rounds": rounds,
        }
    return {"serving": serving}


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
    versus = serving.get("vs_baseline")
    if versus:
        lines += [
            "",
            f"## Against the baseline {versus['ref']} ({versus['commit'][:10]}), same data, "
            f"measured in turns ({versus['rounds']} rounds)",
            "",
            "| figure | this code (A) | baseline (B) | B/A |",
            "|---|---|---|---|",
            *(
                f"| {k} | {serving[k]} | {versus['baseline'][k]} | {versus['ratio_b_over_a'][k]} |"
                for k in COMPARED
            ),
            "",
            "A and B answer alike (PDs, reason codes, 422 bodies): "
            + ("yes" if not versus["differences"] else "NO: " + "; ".join(versus["differences"])),
        ]
    shadowed = serving.get("with_shadow")
    if shadowed:
        lines += [
            "",
            "## The cost of shadow scoring: the same service with a challenger (S), measured "
            f"in turns with A ({shadowed['rounds']} rounds)",
            "",
            "| figure | no challenger (A) | challenger shadowing (S) | S/A |",
            "|---|---|---|---|",
            *(
                f"| {k} | {serving[k]} | {shadowed['figures'][k]} | "
                f"{shadowed['ratio_s_over_a'][k]} |"
                for k in COMPARED
            ),
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--applications-per-month", type=int, default=3000)
    parser.add_argument("--requests", type=int, default=400, help="per concurrency level")
    parser.add_argument("--seconds", type=float, default=60, help="per concurrency level")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--name", default="serving")
    parser.add_argument("--baseline", help="a commit to measure against (A/B, same data)")
    parser.add_argument("--rounds", type=int, default=4, help="A/B turns per figure")
    parser.add_argument(
        "--shadow",
        action="store_true",
        help="also measure the service with a challenger shadowing (arm S)",
    )
    args = parser.parse_args()
    result = run(args.applications_per_month, args.requests, args.seconds, args.batch_size,
                 args.baseline, args.rounds, args.shadow)  # fmt: skip
    text = markdown(result)
    write_results(args.name, result, text)
    print(text)


if __name__ == "__main__":
    main()
