"""The drift page tells one story: the platform's verdict first, and Evidently's views below it
showing the platform's own numbers (its drift scores are our PSI and KS p-value, computed on
every row, with our thresholds), so its headline cannot contradict the verdict."""

from __future__ import annotations

import json
import re

import duckdb
import numpy as np
import pandas as pd
import pytest

from creditplatform.ml import drift_page as page


def _frames(rows: int = 2000) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)

    def frame(shift: float) -> pd.DataFrame:
        return pd.DataFrame({
            "INCOME": rng.normal(shift, 1, rows),
            "CONTRACT": rng.choice(["cash", "revolving"], rows),
            page.SCORE_COLUMN: rng.random(rows),
        })  # fmt: skip

    return frame(0.0), frame(1.0)


def _drift_scores(html: str) -> list[float]:
    return [float(v) for v in re.findall(r'"drift_score": ([0-9.e-]+)', html)]


@pytest.mark.parametrize("drifted", [True, False])
def test_evidently_shows_our_scores_and_agrees_with_our_headline(drifted: bool):
    reference, current = _frames()
    psi = 0.91234 if drifted else 0.04321
    scores = {
        "INCOME": (psi, drifted),
        "CONTRACT": (0.0123, False),
        page.SCORE_COLUMN: (0.31, False),
    }
    thresholds = {"INCOME": 0.2, "CONTRACT": 0.2, page.SCORE_COLUMN: 0.05}
    html, rows = page.evidently_html(reference, current, scores, thresholds, sample_rows=500)
    assert rows == 500
    # Whatever Evidently's own PSI of these samples is, the page carries ours.
    assert psi in _drift_scores(html) and 0.0123 in _drift_scores(html)
    if drifted:
        assert "Dataset Drift is detected" in html and "1 out of 3" in html
    else:
        assert "Dataset Drift is NOT detected" in html and "0 out of 3" in html


def test_the_monthly_page_leads_with_the_verdict_the_platform_acted_on(platform_base):
    data, _ = platform_base
    html = (data / "reports" / "drift" / "2024-02" / "report.html").read_text("utf-8")
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        max_psi, feature, drifted, p_value, version = con.execute(
            "SELECT max_psi, max_psi_feature, drifted_features, prediction_ks_pvalue, "
            "champion_version FROM monitoring.drift WHERE month = '2024-02'"
        ).fetchone()
    drifted = json.loads(drifted)
    # Our verdict is the first thing in the page's body, above everything Evidently draws.
    assert re.search(r"<body[^>]*>\s*<section id='creditplatform-verdict'", html)
    verdict_at = html.index("creditplatform-verdict")
    header = html[verdict_at : html.index("</section>", verdict_at)]
    assert f"2024-02 vs champion v{version}" in header
    assert f"Max PSI: {max_psi:.3f} ({feature})" in header
    assert f"Drifted features (PSI &ge; 0.2): {len(drifted)} of 103" in header
    assert f"p = {p_value:.3g}" in header
    assert "Decision: " in header and "score distribution" in header
    assert "the champion's training rows of 2024-01" in header
    # Evidently's view of the top feature is our full-data PSI, and its headline agrees.
    assert round(max_psi, 6) in _drift_scores(html)  # Evidently rounds to 6 places
    detected = bool(drifted) or p_value < 0.05
    assert ("Dataset Drift is detected" in html) == detected
    assert ("No drift detected" in header) == (not detected)


def test_the_drift_check_judges_by_the_settings_thresholds(
    platform_base, _isolated_data_dir, monkeypatch: pytest.MonkeyPatch
):
    """``drift_within_limits`` uses drift_psi_threshold and drift_prediction_pvalue, not
    literals: with no PSI threshold reachable it fails only through the p-value setting."""
    import shutil

    from creditplatform_tests.conftest import point_at, run_drift_report

    base, _ = platform_base
    shutil.copytree(base, _isolated_data_dir)
    point_at(monkeypatch, _isolated_data_dir)
    monkeypatch.setenv("CREDITPLATFORM_DRIFT_PSI_THRESHOLD", "1000")
    verdicts = {}
    for p_value in ("0", "1.01"):  # nothing is below 0; every p-value is below 1.01
        monkeypatch.setenv("CREDITPLATFORM_DRIFT_PREDICTION_PVALUE", p_value)
        result = run_drift_report("2024-02")
        (check,) = result.get_asset_check_evaluations()
        verdicts[p_value] = check.passed
        assert "feature(s) >= 1000.0" in check.description
    assert verdicts == {"0": True, "1.01": False}


def test_a_month_within_limits_gets_every_psi_and_evidently_only_when_asked(
    platform_base, _isolated_data_dir, monkeypatch: pytest.MonkeyPatch
):
    """Evidently's views (most of a month's report time) are drawn for months with drift; a
    month within limits gets the verdict and every feature's PSI, and Evidently's views too
    under ``drift_evidently_views=always``."""
    import shutil

    from creditplatform_tests.conftest import point_at, run_drift_report

    base, _ = platform_base
    shutil.copytree(base, _isolated_data_dir)
    point_at(monkeypatch, _isolated_data_dir)
    monkeypatch.setenv("CREDITPLATFORM_DRIFT_PSI_THRESHOLD", "1000")
    monkeypatch.setenv("CREDITPLATFORM_DRIFT_PREDICTION_PVALUE", "0")  # nothing is below 0
    page_file = _isolated_data_dir / "reports" / "drift" / "2024-02" / "report.html"
    pages = {}
    for views in ("drifted", "always"):
        monkeypatch.setenv("CREDITPLATFORM_DRIFT_EVIDENTLY_VIEWS", views)
        result = run_drift_report("2024-02")
        (check,) = result.get_asset_check_evaluations()
        assert check.passed
        pages[views] = page_file.read_text("utf-8")
    plain = pages["drifted"]
    assert re.search(r"<body[^>]*>\s*<section id='creditplatform-verdict'", plain)
    assert "No drift detected" in plain and "drift_evidently_views" in plain
    assert not _drift_scores(plain) and "Dataset Drift" not in plain
    table = plain[plain.index("creditplatform-psi") :]
    assert table.count("<tr><td>") == 103  # every feature, largest PSI first
    assert _drift_scores(pages["always"]) and "Dataset Drift is NOT detected" in pages["always"]


def test_an_unknown_evidently_views_setting_is_refused(monkeypatch: pytest.MonkeyPatch):
    from creditplatform.settings import load_settings

    monkeypatch.setenv("CREDITPLATFORM_DRIFT_EVIDENTLY_VIEWS", "sometimes")
    with pytest.raises(ValueError, match="CREDITPLATFORM_DRIFT_EVIDENTLY_VIEWS='sometimes'"):
        load_settings()
