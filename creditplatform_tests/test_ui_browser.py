"""``make ui`` checked as a person would: dagster dev on a data dir, the asset graph in Chromium.

Starts ``dagster dev`` the way the Makefile does (in its own session, SIGINT to stop), opens
every group's lineage graph in headless Debian Chromium and checks that all 14 asset nodes and
their asset checks are shown. Screenshots are saved in the test's temp dir.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from creditplatform.settings import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
GROUPS = {
    "raw": ["application", "bureau", "bureau_balance", "previous_application",
            "pos_cash_balance", "installments_payments", "credit_card_balance"],
    "features": ["feature_store"],
    "training": ["training_splits", "candidate_model", "evaluation_report", "registry_promotion"],
    "monitoring": ["drift_report"],
    "scoring": ["batch_scores"],
}  # fmt: skip
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


# Nodes whose checks ran on the ingested month: "k / k Passed" (installments and application
# carry three checks, the other raw tables four; the feature store four).
EXPECTED_PASSED = {"raw": [3, 3, 4, 4, 4, 4, 4], "features": [4]}


def _all_passed(text: str) -> list[int]:
    found = re.findall(r"(\d+) / (\d+) Passed", text)
    return sorted(int(total) for ok, total in found if ok == total and ok != "0")


def _settled_text(page, expected_passed: list[int], seconds: float = 90) -> str:
    """The page text once the check results have loaded (they arrive after the graph)."""
    deadline = time.monotonic() + seconds
    text = page.inner_text("body")
    while _all_passed(text) != expected_passed and time.monotonic() < deadline:
        page.wait_for_timeout(1000)
        text = page.inner_text("body")
    return text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {seconds:.0f}s")


@pytest.fixture
def dagster_ui(tmp_path):
    data = tmp_path / "data"
    env = {
        **os.environ,
        "CREDITPLATFORM_DATA_DIR": str(data),
        "CREDITPLATFORM_DAGSTER_STORAGE": str(data / "dagster"),
        "DAGSTER_HOME": str(REPO_ROOT),
    }
    cli = [sys.executable, "-m", "creditplatform.cli"]
    subprocess.run([*cli, "generate", "--months", "1", "--applications-per-month", "300"],
                   env=env, check=True, capture_output=True)  # fmt: skip
    subprocess.run([*cli, "ingest"], env=env, check=True, capture_output=True)
    port = _free_port()
    dagster = Path(sys.executable).parent / "dagster"
    log = (tmp_path / "dagster_dev.log").open("w")
    process = subprocess.Popen(
        ["setsid", "env", "--default-signal=INT", str(dagster), "dev", "-h", "127.0.0.1",
         "-p", str(port), "-w", str(REPO_ROOT / "workspace.yaml")],
        env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_for(f"http://127.0.0.1:{port}/server_info", 180)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


@pytest.mark.slow
@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium is not installed (.ci/run installs it)"
)
def test_asset_graph_shows_every_asset_and_its_checks(dagster_ui, tmp_path):
    from playwright.sync_api import sync_playwright

    seen_nodes, check_rows, passed = set(), 0, {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1800, "height": 2600})
        for group, assets in GROUPS.items():
            page.goto(f"{dagster_ui}/locations/creditplatform/asset-groups/{group}")
            page.get_by_text("Asset checks").first.wait_for(timeout=60_000)
            text = _settled_text(page, expected_passed=EXPECTED_PASSED.get(group, []))
            page.screenshot(path=str(tmp_path / f"asset_graph_{group}.png"))
            check_rows += text.count("Asset checks")
            seen_nodes |= {name for name in assets if re.search(rf"\b{name}\b", text)}
            passed[group] = _all_passed(text)
        browser.close()
    assert seen_nodes == {name for names in GROUPS.values() for name in names}
    assert len(seen_nodes) == 14 and check_rows == 14
    # The ingested month's contracts and features show as passed on their nodes.
    assert passed["raw"] == EXPECTED_PASSED["raw"]
    assert passed["features"] == EXPECTED_PASSED["features"]
    assert (tmp_path / "asset_graph_raw.png").stat().st_size > 10_000
