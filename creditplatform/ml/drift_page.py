"""The drift page: the platform's verdict first, then Evidently's views showing the same numbers.

Evidently's views cost ~0.2 s a column (plotly figures), most of a month's report, so they are
drawn where people look: on a month with drift (or every month, ``drift_evidently_views``). A
month within limits gets the verdict, the score plot and every feature's PSI as a table.

Evidently's own PSI bins differently (and its dataset headline counts the share of drifted
columns against 50%), so left to itself its page contradicted the verdict the platform acted on.
Here Evidently is told to use the platform's statistics as its drift method: each column's drift
score is the PSI (features) or KS p-value (the predicted PD) computed on every row by
``ml.drift``, with the platform's thresholds, and its dataset headline fires when any column
drifts, like the platform's rule. Evidently still draws the distributions, on a sample when the
month is large; the page says so.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from creditplatform.files import write_atomically
from creditplatform.ml.figures import pd_bins, png

SCORE_COLUMN = "predicted_pd"
# Evidently draws the features with the largest PSI (and every drifted one) on a sample: each
# feature costs ~0.07 s to render, so not all 103, and rows beyond a few thousand change no
# picture. The numbers it shows are the full-data ones either way.
HTML_SAMPLE_ROWS = 5000
HTML_TOP_FEATURES = 20


def html_features(drifts: list[Any], psi_threshold: float) -> list[str]:
    """Features the page shows: the largest PSIs and every drifted feature, even past the top
    (``drifts`` comes sorted by PSI, largest first)."""
    return [
        d.feature
        for rank, d in enumerate(drifts)
        if rank < HTML_TOP_FEATURES or d.psi >= psi_threshold
    ]


@dataclass(frozen=True)
class Verdict:
    """What the platform concluded about one month (everything the page's header states)."""

    month: str
    champion_version: int
    reference_months: list[str]
    reference_rows: int
    current_rows: int
    max_psi: float
    max_psi_feature: str
    drifted_features: list[str]
    psi_threshold: float
    prediction_ks_pvalue: float
    prediction_pvalue: float
    retrain: bool
    retrain_reasons: list[str]
    features_total: int
    month_auc: float | None = None
    auc_relative_drop: float | None = None
    performance_degraded: bool | None = None  # None: outcomes not matured yet
    performance_reasons: list[str] = field(default_factory=list)

    @property
    def prediction_drift(self) -> bool:
        return self.prediction_ks_pvalue < self.prediction_pvalue

    @property
    def within_limits(self) -> bool:
        return not self.drifted_features and not self.prediction_drift


STATISTIC = "creditplatform"


def register_platform_statistic(scores: dict[str, tuple[float, bool]]) -> str:
    """Register, under one name, an Evidently drift method that returns the platform's
    full-data (score, drifted) per column; returns the name to pass as ``method``.

    Evidently 0.7 takes a method by registered name only, through its legacy stattest
    registry; registering again replaces the previous month's scores (one report at a time
    per process, as the asset runs).
    """
    from evidently.legacy.calculations.stattests.registry import StatTest, register_stattest
    from evidently.legacy.core import ColumnType

    def creditplatform_statistic(
        reference: pd.Series, current: pd.Series, kind: object, threshold: float
    ) -> tuple[float, bool]:
        return scores[str(reference.name)]

    test = StatTest(
        name=STATISTIC,
        display_name="creditplatform: PSI (features), KS p-value (predicted PD), every row",
        allowed_feature_types=[ColumnType.Numerical, ColumnType.Categorical],
    )
    register_stattest(test, default_impl=creditplatform_statistic)
    return STATISTIC


def unlinked_sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """``rows`` values of each column, each column drawn on its own, so no row is an applicant.

    Evidently's views are per column (a distribution, values against their position), and its
    page embeds the values it draws; with rows sampled whole, the position tied every column's
    value of one applicant together in the page. Drawn apart, each column keeps its own
    distribution, which is all a view shows, and nothing links one column's value to another's.
    """
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            c: frame[c].iloc[rng.permutation(len(frame))[:rows]].reset_index(drop=True)
            for c in frame.columns
        }
    )


def evidently_html(
    reference: pd.DataFrame, current: pd.DataFrame, scores: dict[str, tuple[float, bool]],
    thresholds: dict[str, float], sample_rows: int,
) -> tuple[str, int]:  # fmt: skip
    """Evidently's drift page over ``scores``' columns, each labelled with the platform's
    threshold for it; (its HTML, rows drawn a side)."""
    import tempfile

    from evidently import Report
    from evidently.presets import DataDriftPreset

    rows = min(sample_rows, len(reference), len(current))
    columns = list(scores)
    preset = DataDriftPreset(
        columns=columns,
        method=register_platform_statistic(scores),
        per_column_threshold=thresholds,
        # The platform calls a month drifted when any column is: one column of n is enough.
        drift_share=1 / len(columns),
    )
    snapshot = Report([preset], include_tests=True).run(
        current_data=unlinked_sample(current[columns], rows, seed=0),
        reference_data=unlinked_sample(reference[columns], rows, seed=1),
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "evidently.html"
        snapshot.save_html(str(path))
        return path.read_text("utf-8"), rows


def score_plot(reference: np.ndarray, current: np.ndarray, month: str) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    bins = pd_bins(np.r_[reference, current])
    ax.hist(reference, bins=bins, density=True, alpha=0.55, label="reference (champion's rows)")
    ax.hist(current, bins=bins, density=True, alpha=0.55, label=month)
    ax.set(xlabel="predicted PD (champion)", ylabel="density", title="Score distribution")
    ax.legend(fontsize=8)
    return png(fig)


def _scope(shown: int, features_total: int, sample_rows: int) -> str:
    if not shown:
        return (
            "<p>Within limits: Evidently's per-column views are drawn for months with drift "
            "(setting <code>drift_evidently_views</code>: <code>always</code> draws them every "
            "month). Every feature's PSI is below.</p>"
        )
    return (
        f"<p>Below, Evidently's per-column views for {shown} columns: the {shown - 1} features "
        f"with the largest PSI (every drifted feature included) of {features_total}, and the "
        f"predicted PD ({SCORE_COLUMN}). Its drift scores are the platform's, computed on every "
        f"row (PSI for features, KS p-value for {SCORE_COLUMN}); its plots draw "
        f"{sample_rows:,} values of each column a side, each column sampled on its own, so no "
        f"row of this page is an applicant.</p>"
    )


def verdict_html(verdict: Verdict, plot: bytes, shown: int, sample_rows: int) -> str:
    """The header: month, champion, reference, max PSI, drifted features, prediction drift,
    the retrain rule's outcome with its reasons, and what the Evidently part below covers
    (``shown`` columns, none on a month drawn without it)."""
    v, e = verdict, html.escape
    drifted = ", ".join(v.drifted_features) or "none"
    headline = "Drift detected" if not v.within_limits else "No drift detected"
    decision = "retrain requested by the drift rule" if v.retrain else "no drift retrain"
    auc = (
        f"<li>Performance on the month's outcomes: <b>"
        f"{'degraded' if v.performance_degraded else 'not degraded'}</b><ul>"
        + "".join(f"<li>{e(reason)}</li>" for reason in v.performance_reasons)
        + "</ul></li>"
        if v.performance_degraded is not None
        else "<li>Month ROC-AUC: outcomes not matured yet</li>"
    )
    image = base64.b64encode(plot).decode()
    return (
        "<section id='creditplatform-verdict' style='font-family:sans-serif;margin:1.5em;"
        "padding:1em;border:2px solid #444;background:#fafafa'>"
        f"<h1 style='margin-top:0'>{e(headline)}: {e(v.month)} vs champion "
        f"v{v.champion_version}</h1><ul>"
        f"<li>Reference: the champion's training rows of {e(', '.join(v.reference_months))} "
        f"({v.reference_rows:,} rows); current: {v.current_rows:,} rows</li>"
        f"<li>Max PSI: {v.max_psi:.3f} ({e(v.max_psi_feature)}); threshold {v.psi_threshold}</li>"
        f"<li>Drifted features (PSI &ge; {v.psi_threshold}): {len(v.drifted_features)} of "
        f"{v.features_total}: {e(drifted)}</li>"
        f"<li>Prediction drift (KS on the champion's PDs): p = {v.prediction_ks_pvalue:.3g} "
        f"({'drift' if v.prediction_drift else 'no drift'} at p &lt; {v.prediction_pvalue})</li>"
        f"{auc}"
        f"<li><b>Decision: {e(decision)}</b><ul>"
        + "".join(f"<li>{e(reason)}</li>" for reason in v.retrain_reasons)
        + "</ul></li></ul>"
        f"<img alt='score distribution' src='data:image/png;base64,{image}'/>"
        f"{_scope(shown, v.features_total, sample_rows)}</section>"
    )


def psi_table_html(drifts: list[Any], psi_threshold: float) -> str:
    """Every feature's PSI (largest first) and KS p-value, as the page of a month within
    limits shows them."""
    rows = "".join(
        f"<tr><td>{html.escape(d.feature)}</td><td>{d.kind}</td><td>{d.psi:.4f}</td>"
        f"<td>{'' if d.ks_pvalue is None else f'{d.ks_pvalue:.3g}'}</td>"
        f"<td>{'drifted' if d.psi >= psi_threshold else ''}</td></tr>"
        for d in drifts
    )
    return (
        "<table id='creditplatform-psi' style='font-family:sans-serif;margin:1.5em;"
        "border-collapse:collapse'><thead><tr><th>feature</th><th>kind</th><th>PSI</th>"
        f"<th>KS p-value</th><th>PSI &ge; {psi_threshold}</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def write_page(path: Path, header: str, evidently: str) -> None:
    """One self-contained file: the verdict inserted at the top of Evidently's page (written
    atomically: a reader never opens half a page)."""
    at = evidently.find("<body")
    at = evidently.find(">", at) + 1 if at >= 0 else 0
    write_atomically(path, evidently[:at] + header + evidently[at:])


def write_drift_page(
    path: Path,
    verdict: Verdict,
    drifts: list[Any],
    reference: tuple[pd.DataFrame, np.ndarray],
    current: tuple[pd.DataFrame, np.ndarray],
    evidently: bool = True,
) -> tuple[list[str], int]:
    """Write the month's page (verdict, score plot, then Evidently's views of the shown features
    and the predicted PD, or without ``evidently`` every feature's PSI); returns (features
    Evidently shows, rows it drew a side). ``reference`` and ``current`` are each (feature
    rows, the champion's PDs for them)."""
    (ref_rows, ref_scores), (cur_rows, cur_scores) = reference, current
    plot = score_plot(ref_scores, cur_scores, verdict.month)
    if not evidently:
        body = psi_table_html(drifts, verdict.psi_threshold)
        page = (
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Drift {verdict.month}"
            f"</title></head><body></body></html>"
        )
        write_page(path, verdict_html(verdict, plot, 0, 0) + body, page)
        return [], 0
    shown = html_features(drifts, verdict.psi_threshold)
    psi = {d.feature: d.psi for d in drifts}
    scores = {f: (psi[f], psi[f] >= verdict.psi_threshold) for f in shown}
    scores[SCORE_COLUMN] = (verdict.prediction_ks_pvalue, verdict.prediction_drift)
    thresholds = {f: verdict.psi_threshold for f in shown}
    thresholds[SCORE_COLUMN] = verdict.prediction_pvalue
    evidently_page, rows = evidently_html(
        ref_rows.assign(**{SCORE_COLUMN: ref_scores}),
        cur_rows.assign(**{SCORE_COLUMN: cur_scores}),
        scores, thresholds, HTML_SAMPLE_ROWS,
    )  # fmt: skip
    write_page(path, verdict_html(verdict, plot, len(scores), rows), evidently_page)
    return shown, rows
