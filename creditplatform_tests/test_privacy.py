"""No applicant's row in anything the platform writes beside the warehouse: model versions
(MLflow artifacts: the model, its example and signature, the reason reference, the baseline),
the evaluation report, the drift pages (Evidently's views included) and the alerts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from creditplatform.features.catalog import FEATURES
from creditplatform.ml.drift_page import unlinked_sample
from creditplatform.settings import load_settings
from creditplatform_tests.applicant_rows import (
    Applicants,
    aligned_arrays_json,
    applicant_rows_in,
    landed_applicants,
    rows_in_text,
    text_files,
)
from creditplatform_tests.conftest import PLATFORM_MONTH, run_drift_report


def _month(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "SK_ID_CURR": np.arange(100_000, 100_000 + rows),
        **{f"X{i}": rng.normal(size=rows) for i in range(8)},
        "CNT_CHILDREN": rng.integers(0, 3, size=rows),
    })  # fmt: skip


def test_the_scan_finds_rows_dumped_as_records_or_as_aligned_arrays():
    """The scan's positive controls: what MLflow's ``input_example`` and a per-column plot of
    whole sampled rows store; and a frame sampled column by column is not found."""
    month = _month(300)
    applicants = Applicants(month)
    features = month.drop(columns="SK_ID_CURR")
    as_records = features.head(3).to_json(orient="split")
    assert sorted(rows_in_text(as_records, applicants)) == [100_000, 100_001, 100_002]
    as_arrays = aligned_arrays_json(features.sample(n=200, random_state=0))
    assert len(rows_in_text(as_arrays, applicants)) == 200
    unlinked = aligned_arrays_json(unlinked_sample(features, 200, seed=0))
    assert rows_in_text(unlinked, applicants) == []
    # Every column's own values are all there, and only the rows are gone.
    assert all(
        sorted(unlinked_sample(features, 300, seed=0)[c]) == sorted(features[c])
        for c in features.columns
    )  # fmt: skip


def test_a_median_row_is_nobody():
    """The reference applicant (per-column medians) of an odd number of rows holds one
    applicant's value in each column, a different applicant's each time: not a row."""
    month = _month(301, seed=4)
    medians = month.drop(columns="SK_ID_CURR").median().to_dict()
    assert rows_in_text(json.dumps(medians), Applicants(month)) == []


def test_no_artifact_of_a_trained_and_monitored_platform_holds_an_applicant(platform, monkeypatch):
    """Champion v1 (model, baseline, evaluation) and 2024-02's drift page drawn with
    Evidently's per-column views (600 applicants a month, so every row is drawn)."""
    monkeypatch.setenv("CREDITPLATFORM_DRIFT_EVIDENTLY_VIEWS", "always")
    assert run_drift_report(PLATFORM_MONTH).success
    settings = load_settings()
    page = (settings.reports_dir / "drift" / PLATFORM_MONTH / "report.html").read_text("utf-8")
    assert "Value Drift for column" in page  # Evidently's views are on the page
    files = text_files(settings.mlflow_artifacts, settings.reports_dir)
    names = {path.name for path in files}
    assert {"input_example.json", "reason_reference.json", "report.json"} <= names
    assert applicant_rows_in(files, landed_applicants(settings.warehouse_path)) == {}
    example = json.loads(next(p for p in files if p.name == "input_example.json").read_text())
    assert example["columns"] == list(FEATURES) and len(example["data"]) == 1
