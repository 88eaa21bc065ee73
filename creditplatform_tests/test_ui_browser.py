"""``make ui`` checked as a person would: dagster dev on a data dir, the asset graph in Chromium.

Starts ``dagster dev`` the way the Makefile does (in its own session, SIGINT to stop), opens
every group's lineage graph in headless Debian Chromium and checks that all 14 asset nodes and
their asset checks are shown. Screenshots are saved in the test's temp dir.
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from creditplatform.settings import REPO_ROOT
from creditplatform_tests.dagster_dev import dagster_dev

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
# carry three checks, the other raw tables four; the feature store five).
EXPECTED_PASSED = {"raw": [4, 4, 5, 5, 5, 5, 5], "features": [5]}


def _dismiss_community_dialog(page) -> None:
    """Dagster opens a community dialog on a first visit, at a moment of its choosing; whenever
    it covers the page before an action, Playwright clicks its Skip button first."""
    skip = page.get_by_role("button", name="Skip")
    page.add_locator_handler(skip, lambda button: button.first.click())


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


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory):
    """Three ingested months and one retrain (a model, its evaluation and a decision)."""
    tmp = tmp_path_factory.mktemp("ui")
    data = tmp / "data"
    env = {
        **os.environ,
        "CREDITPLATFORM_DATA_DIR": str(data),
        "CREDITPLATFORM_DAGSTER_STORAGE": str(data / "dagster"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{data / 'mlflow' / 'mlflow.db'}",
        "MLFLOW_REGISTRY_URI": f"sqlite:///{data / 'mlflow' / 'mlflow.db'}",
        "CREDITPLATFORM_MIN_TRAINING_MONTHS": "3",
        "DAGSTER_HOME": str(REPO_ROOT),
    }
    cli = [sys.executable, "-m", "creditplatform.cli"]
    subprocess.run([*cli, "generate", "--months", "3", "--applications-per-month", "2000"],
                   env=env, check=True, capture_output=True)  # fmt: skip
    subprocess.run([*cli, "ingest"], env=env, check=True, capture_output=True)
    subprocess.run([*cli, "retrain"], env=env, check=True, capture_output=True)
    with dagster_dev(env, tmp / "dagster_dev.log") as url:
        yield url


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
        _dismiss_community_dialog(page)
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


def _screenshot(page, name: str, tmp_path: Path) -> None:
    """Into the test's temp dir; also into $CREDITPLATFORM_SCREENSHOT_DIR when set (this is how
    docs/screenshots/ is refreshed: run this test with it pointing there)."""
    page.screenshot(path=str(tmp_path / name), full_page=True)
    extra = os.environ.get("CREDITPLATFORM_SCREENSHOT_DIR")
    if extra:
        page.screenshot(path=str(Path(extra) / name), full_page=True)


@pytest.mark.slow
@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium is not installed (.ci/run installs it)"
)
def test_asset_pages_embed_plots_and_link_to_mlflow(dagster_ui, tmp_path):
    """The evaluation page shows its plots inline and both pages link to MLflow."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1400})
        _dismiss_community_dialog(page)
        found = {}
        for asset, link in (
            ("evaluation_report", "/#/experiments/"),
            ("registry_promotion", "/#/models/creditplatform-pd/versions/"),
        ):
            page.goto(f"{dagster_ui}/assets/{asset}")
            page.locator(f'a[href*="{link}"]').first.wait_for(timeout=90_000)
            _screenshot(page, f"{asset}.png", tmp_path)
        page.goto(f"{dagster_ui}/assets/evaluation_report")
        page.locator("tr", has_text="plots").get_by_text("Show Markdown").first.click()
        images = page.locator('img[src^="data:image/png;base64,"]')
        images.first.wait_for(timeout=30_000)
        found["plots"] = images.count()
        _screenshot(page, "evaluation_report_plots.png", tmp_path)
        browser.close()
    assert found["plots"] == 5  # ROC, PR, calibration, score distribution, importances
    assert (tmp_path / "evaluation_report.png").stat().st_size > 50_000
