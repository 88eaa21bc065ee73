"""``creditplatform serve`` as a real uvicorn process: zero skew over the loopback, JSON logs,
a champion promoted while a client loops on requests, a clean stop that flushes the log."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from creditplatform.cli import main
from creditplatform.features.store import STORE
from creditplatform.ml.registry import Registry, load_verified
from creditplatform.serving.api_keys import KeyStore
from creditplatform.serving.examples import landing_requests
from creditplatform.settings import REPO_ROOT, load_settings
from creditplatform.status import connect_when_free
from creditplatform_tests.dagster_dev import free_port, wait_for
from creditplatform_tests.test_serving import batch_scores
from creditplatform_tests.test_serving_contract import differing_cells, store_month

pytestmark = pytest.mark.slow


@pytest.fixture
def platform(platform: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """conftest's platform, polled every 2 s, with an admin key every request carries."""
    monkeypatch.setenv("CREDITPLATFORM_SERVE_RELOAD_SECONDS", "2")
    key = KeyStore(load_settings().api_keys_path).create("tests", admin=True)
    monkeypatch.setitem(AUTH, "Authorization", f"Bearer {key}")
    return platform


@contextmanager
def serving(log: Path) -> Iterator[str]:
    """``creditplatform serve`` on a free loopback port until the block ends (SIGTERM by pid)."""
    port = free_port()
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [str(REPO_ROOT / ".venv" / "bin" / "creditplatform"), "serve", "--port", str(port)],
            stdout=stderr, stderr=stderr, env=dict(os.environ),
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/ready", 180)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    # A clean stop: uvicorn finishes its shutdown (request log flushed, DuckDB connections
    # closed), then re-raises SIGTERM; an abort at exit would be SIGABRT.
    assert process.returncode in (0, -signal.SIGTERM), f"serve exited with {process.returncode}"


# The test's API key (the platform fixture creates it): every request carries it.
AUTH: dict[str, str] = {}


def post(url: str, body: object, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        json.dumps(body).encode(),
        {"Content-Type": "application/json", **AUTH, **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_uvicorn_scores_every_applicant_like_batch_and_logs_json(platform: Path, tmp_path: Path):
    requests = landing_requests(platform)
    expected = batch_scores(load_settings().data_dir)
    log = tmp_path / "serve.log"
    with serving(log) as url:
        online = {}
        for start in range(0, len(requests), 200):
            status, body = post(
                f"{url}/v1/score/batch", {"applicants": requests[start : start + 200]}
            )
            assert status == 200, body
            online |= {r["SK_ID_CURR"]: r["pd"] for r in body["results"]}
        alone = {}
        for request in requests:  # every applicant alone too (the batcher may pair some)
            status, body = post(f"{url}/v1/score?reasons=false", request)
            assert status == 200, body
            alone[body["SK_ID_CURR"]] = body["pd"]
        status, single = post(f"{url}/v1/score", requests[7], {"X-Request-ID": "case-7"})
        assert status == 200 and single["request_id"] == "case-7"
        assert len(single["reason_codes"]) > 0 or single["pd"] == min(online.values())
    assert all(online[sk] == alone[sk] == expected[sk][0] for sk in expected)  # bit for bit
    assert single["pd"] == expected[single["SK_ID_CURR"]][0]
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    events = [line for line in lines if line.get("request_id") == "case-7"]
    assert events and events[0]["model_version"] == 1 and events[0]["status"] == 200
    assert any(
        line.get("event") == "model_reload" and line["outcome"] == "loaded" for line in lines
    )
    # SIGTERM let the service flush its request log: every scored applicant is there, with the
    # feature row the service computed, bit for bit the store's.
    with duckdb.connect(str(load_settings().request_log_path)) as con:
        logged = con.execute("SELECT * FROM scored_requests").df()
    assert len(logged) == 1201
    assert differing_cells(logged, store_month(load_settings().warehouse_path)) == {}


def test_a_new_champion_is_picked_up_while_a_client_loops(platform: Path, tmp_path: Path):
    """Promote v2 while requests flow: every response names one version, none fails, the swap
    happens once, and each PD is the one its named version gives."""
    applicant = landing_requests(platform, limit=1)[0]
    sk = applicant["application"]["SK_ID_CURR"]
    responses: list[tuple[int, dict]] = []
    stop = threading.Event()
    with serving(tmp_path / "serve.log") as url:

        def loop() -> None:
            while not stop.is_set():
                responses.append(post(f"{url}/v1/score", applicant))

        client = threading.Thread(target=loop)
        client.start()
        try:
            assert main(["retrain"]) == 0
            assert main(["promote", "--version", "2", "--reason", "serving test"]) == 0
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                if responses and responses[-1][1].get("model", {}).get("version") == 2:
                    break
                time.sleep(0.5)
            time.sleep(1)
        finally:
            stop.set()
            client.join()
        assert post(f"{url}/admin/reload", {})[1]["outcome"] == "unchanged"
    assert all(status == 200 for status, _ in responses), [b for s, b in responses if s != 200]
    versions = [body["model"]["version"] for _, body in responses]
    assert versions[0] == 1 and versions[-1] == 2
    assert versions == sorted(versions), "once v2 serves, v1 never answers again"
    settings = load_settings()
    registry = Registry.for_settings(settings)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        row = con.execute(f"SELECT * FROM {STORE} WHERE SK_ID_CURR = ?", [sk]).df()
    pd_of = {
        v: float(load_verified(registry, registry.version(v)).predict_proba(row)[0, 1])
        for v in (1, 2)
    }
    for _, body in responses:
        assert body["pd"] == pd_of[body["model"]["version"]]
    assert np.isfinite(list(pd_of.values())).all()


def _logged_rows(log_file: Path) -> int:
    """Rows in the request log, read between the service's own brief writes."""
    with connect_when_free(log_file, 120, read_only=True) as con:
        return con.execute("SELECT count(*) FROM scored_requests").fetchone()[0]


def test_kill_9_loses_no_logged_row_and_a_new_service_carries_on(platform: Path, tmp_path: Path):
    applicants = landing_requests(platform, limit=40)
    log_file = load_settings().request_log_path
    port = free_port()
    process = subprocess.Popen(
        [str(REPO_ROOT / ".venv" / "bin" / "creditplatform"), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ),
    )  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/ready", 180)
        status, _ = post(f"http://127.0.0.1:{port}/v1/score/batch", {"applicants": applicants[:20]})
        assert status == 200
        deadline = time.monotonic() + 120
        while (
            not log_file.exists() or _logged_rows(log_file) < 20
        ) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert _logged_rows(log_file) == 20  # flushed before the kill, intact after it
    with serving(tmp_path / "second.log") as url:
        assert post(f"{url}/v1/score/batch", {"applicants": applicants[20:]})[0] == 200
    assert _logged_rows(log_file) == 40


def test_the_first_start_prints_an_admin_key_once_and_the_port_needs_it(tmp_path: Path):
    """A fresh data dir (no champion, no key): ``serve`` creates admin key ``local``, prints it
    once outside the JSON log, and the API answers 401 without it and 503 (no champion) with
    it; a second start prints no key."""
    port = free_port()
    log = tmp_path / "first.log"
    url = f"http://127.0.0.1:{port}"
    command = [str(REPO_ROOT / ".venv" / "bin" / "creditplatform"), "serve", "--port", str(port)]
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out, env=dict(os.environ))
    try:
        wait_for(f"{url}/health", 180)
        printed = log.read_text()
        keys = [line.split("Bearer ", 1)[1].strip() for line in printed.splitlines()
                if "Authorization: Bearer " in line]  # fmt: skip
        assert len(keys) == 1
        assert not any(keys[0] in line for line in printed.splitlines() if line.startswith("{"))
        assert post(f"{url}/v1/score", {})[0] == 401
        status, body = post(f"{url}/v1/score", {}, {"Authorization": f"Bearer {keys[0]}"})
        assert status == 422 or status == 503, body
        assert post(f"{url}/admin/reload", {}, {"Authorization": f"Bearer {keys[0]}"})[0] == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out, env=dict(os.environ))
    try:
        wait_for(f"{url}/health", 180)
        assert "Authorization: Bearer" not in log.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


MONITORING = REPO_ROOT / "deploy" / "monitoring"


def _queries() -> list[str]:
    """Every PromQL expression (and legend) of the alert rules and the Grafana dashboard."""
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    found = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    found += [f"{t['expr']} {t['legendFormat']}" for p in dashboard["panels"] for t in p["targets"]]
    return found


def test_every_metric_and_label_monitoring_uses_is_exposed(platform: Path, tmp_path: Path):
    """The alert rules and the dashboard query only series a real service exposes on
    /metrics (after one single and one batch request), with labels those series carry."""
    requests = landing_requests(platform, limit=3)
    with serving(tmp_path / "serve.log") as url:
        assert post(f"{url}/v1/score", requests[0])[0] == 200
        assert post(f"{url}/v1/score/batch", {"applicants": requests[1:]})[0] == 200
        with urllib.request.urlopen(f"{url}/metrics", timeout=60) as answer:
            exposition = answer.read().decode()
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
    queries = _queries()
    assert len(queries) >= 14
    for query in queries:
        names = set(re.findall(r"\bcreditplatform_[a-z_]+\b", query))
        assert names and names <= set(labels), (query, names - set(labels))
        used = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)\s*\"", query))
        used |= {w.strip() for group in re.findall(r"\bby \(([^)]*)\)", query)
                 for w in group.split(",")}  # fmt: skip
        used |= set(re.findall(r"\{\{\s*(\w+)\s*\}\}", query)) - {"value"}
        carried = set().union(*(labels[name] for name in names))
        assert used <= carried, (query, used - carried)
