"""How long the drift report's work takes for one month of 25,000 applications × all features.

Times, separately, on two generated months through the real ingestion and feature SQL: the
champion's reference profile (bins, shares, sorted values: built once per champion), our
statistics against it (PSI + KS on every row of every feature, plus prediction drift: every
month), the page of a month within limits (verdict, score plot, every feature's PSI) and the
page of a drifted month (the same plus Evidently's views of the top 20 features by PSI, any
drifted one and the predicted PD, 5,000 sampled rows a side). The PDs are stand-ins (a fixed
function of one feature): the page's cost does not depend on which model made them.

    python -m benchmarks.drift_speed --applications-per-month 25000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb

from creditplatform.features.store import STORE, build_month
from creditplatform.ml import drift_page as page
from creditplatform.ml.drift import ReferenceProfile
from creditplatform.settings import load_settings
from creditplatform.synthetic.generate import GenerateOptions, generate_history
from creditplatform.warehouse.ingest import ingest_month


def run(applications: int, out: Path) -> dict:
    generate_history(out, GenerateOptions(months=2, applications_per_month=applications))
    for month in ("2024-01", "2024-02"):
        with duckdb.connect(str(out / "w.duckdb")) as con:
            assert ingest_month(con, out / "landing", month).published
    with duckdb.connect(str(out / "w.duckdb")) as con:
        for month in ("2024-01", "2024-02"):
            assert build_month(con, month).published
        reference = con.execute(f"SELECT * FROM {STORE} WHERE month = '2024-01'").df()
        current = con.execute(f"SELECT * FROM {STORE} WHERE month = '2024-02'").df()
    ref_pd, cur_pd = (
        1 - f["EXT_SOURCE_2"].fillna(0.5).to_numpy(float) for f in (reference, current)
    )
    started = time.perf_counter()
    profile = ReferenceProfile.build(reference, ref_pd)
    profile_s = time.perf_counter() - started
    started = time.perf_counter()
    summary = profile.summarize(current, cur_pd, load_settings().drift_psi_threshold)
    statistics_s = time.perf_counter() - started
    drifts = summary.features
    settings = load_settings()
    verdict = page.Verdict(
        month="2024-02", champion_version=1, reference_months=["2024-01"],
        reference_rows=len(reference), current_rows=len(current), max_psi=drifts[0].psi,
        max_psi_feature=drifts[0].feature, drifted_features=[], features_total=len(drifts),
        psi_threshold=settings.drift_psi_threshold,
        prediction_ks_pvalue=summary.prediction_ks_pvalue,
        prediction_pvalue=settings.drift_prediction_pvalue, retrain=False, retrain_reasons=[],
    )  # fmt: skip
    pages = {}
    for evidently in (False, True):
        started = time.perf_counter()
        shown, rows = page.write_drift_page(
            out / "report.html", verdict, drifts, (reference, ref_pd), (current, cur_pd),
            evidently,
        )  # fmt: skip
        pages[evidently] = time.perf_counter() - started
    return {
        "rows_reference": len(reference),
        "rows_current": len(current),
        "features": len(drifts),
        "profile_s": round(profile_s, 2),
        "statistics_s": round(statistics_s, 2),
        "page_within_limits_s": round(pages[False], 2),
        "evidently_html_s": round(pages[True], 2),
        "html_rows": rows,
        "html_features": len(shown),
        "html_mb": round((out / "report.html").stat().st_size / 1e6, 1),
    }


def main() -> None:
    from benchmarks.common import write_results

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--applications-per-month", type=int, default=25_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args.applications_per_month, Path(tmp))
    text = (
        f"# Drift report speed ({result['rows_current']:,} rows x "
        f"{result['features']} features)\n\n"
        f"- the champion's reference profile (once per champion): {result['profile_s']} s\n"
        f"- our PSI + KS on every row and feature, against it: {result['statistics_s']} s\n"
        f"- page of a month within limits (verdict, score plot, every PSI): "
        f"{result['page_within_limits_s']} s\n"
        f"- page of a drifted month, with Evidently's views ({result['html_features']} features, "
        f"{result['html_rows']:,} rows a side; Evidently imported in the same step): "
        f"{result['evidently_html_s']} s, {result['html_mb']} MB"
    )
    write_results("drift_speed", {"drift_speed": result}, text)
    print(text)


if __name__ == "__main__":
    main()
