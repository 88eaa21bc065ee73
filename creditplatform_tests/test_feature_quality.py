"""Feature data quality against the champion's training rows: change warns, sparsity does not."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from creditplatform.features.quality import QualityLimits, quality_findings
from creditplatform.features.store import STORE
from creditplatform.ml.training_data import SPLITS_TABLE

LIMITS = QualityLimits(null_rate_shift=0.2, mean_shift_sds=1.0, out_of_range_share=0.05)
COLUMNS = ["sparse", "steady", "emptier", "shifted", "wider"]


def _month(month: str, n: int, rng: np.random.Generator, drifted: bool) -> pd.DataFrame:
    def with_nulls(values: np.ndarray, share: float) -> np.ndarray:
        values = values.astype(float)
        values[rng.random(n) < share] = np.nan
        return values

    wider = rng.uniform(0, 1, n)
    if drifted:
        wider[: n // 5] = 5.0
    return pd.DataFrame(
        {
            "month": month,
            "SK_ID_CURR": np.arange(n) + (0 if month == "2024-01" else 10_000),
            "sparse": with_nulls(rng.normal(size=n), 0.97),  # few card holders, as in training
            "steady": rng.normal(10, 2, n),
            "emptier": with_nulls(rng.normal(size=n), 0.6 if drifted else 0.1),
            "shifted": rng.normal(3 if drifted else 0, 1, n),
            "wider": wider,
        }
    )


@pytest.fixture
def warehouse() -> duckdb.DuckDBPyConnection:
    rng = np.random.default_rng(7)
    rows = pd.concat([_month("2024-01", 2000, rng, False), _month("2024-02", 2000, rng, True)])
    splits = rows.loc[rows["month"] == "2024-01", ["month", "SK_ID_CURR"]].assign(
        split_set="champion-rows", split="train"
    )
    con = duckdb.connect()
    con.register("rows", rows)
    con.register("splits", splits)
    con.execute("CREATE SCHEMA features; CREATE SCHEMA ml")
    con.execute(f"CREATE TABLE {STORE} AS SELECT * FROM rows")
    con.execute(f"CREATE TABLE {SPLITS_TABLE} AS SELECT split_set, month, SK_ID_CURR, split "
                "FROM splits")  # fmt: skip
    yield con
    con.close()


def test_moved_features_warn_with_numbers_and_sparse_ones_do_not(warehouse):
    findings = quality_findings(warehouse, "2024-02", "champion-rows", COLUMNS, LIMITS)
    by = {(f["feature"], f["measure"]): f for f in findings}
    assert {feature for feature, _ in by} == {"emptier", "shifted", "wider"}
    emptier = by[("emptier", "null_rate")]
    assert emptier["reference"] == pytest.approx(0.1, abs=0.03)
    assert emptier["current"] == pytest.approx(0.6, abs=0.03)
    assert by[("shifted", "mean")]["shift_in_reference_sds"] == pytest.approx(3, abs=0.2)
    wider = by[("wider", "share_outside_reference_range")]
    assert wider["current"] == pytest.approx(0.2, abs=0.001)
    assert wider["reference_range"][0] >= 0 and wider["reference_range"][1] <= 1


def test_the_reference_month_itself_is_within_limits(warehouse):
    assert quality_findings(warehouse, "2024-01", "champion-rows", COLUMNS, LIMITS) == []


def test_no_reference_rows_means_no_verdict(warehouse):
    assert quality_findings(warehouse, "2024-02", "unknown", COLUMNS, LIMITS) is None
