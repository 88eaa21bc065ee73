"""The generator reproduces the Home Credit schema, keys, sentinels, missingness and drift truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from creditplatform.homecredit import SENTINEL_DAYS, TABLES, profile
from creditplatform.synthetic.generate import GenerateOptions, generate_history
from creditplatform.synthetic.scenarios import SCENARIOS

KAGGLE_ROWS_PER_APPLICATION = {
    "bureau": 1_716_428 / 307_511,
    "bureau_balance": 27_299_925 / 307_511,
    "previous_application": 1_670_214 / 307_511,
    "POS_CASH_balance": 10_001_358 / 307_511,
    "installments_payments": 13_605_401 / 307_511,
    "credit_card_balance": 3_840_312 / 307_511,
}
_PANDAS_KIND = {"int64": "int64", "float64": "float64", "str": "object"}


@pytest.fixture(scope="module")
def month_tables(tmp_path_factory) -> dict[str, pd.DataFrame]:
    out = tmp_path_factory.mktemp("gen")
    generate_history(out, GenerateOptions(months=1, applications_per_month=6000, seed=3))
    folder = out / "landing" / "2024-01"
    return {name: pd.read_csv(folder / spec.file_name) for name, spec in TABLES.items()}


def test_files_have_exact_kaggle_columns_and_dtypes(month_tables):
    for name, frame in month_tables.items():
        spec = TABLES[name]
        assert tuple(frame.columns) == spec.columns, name
        wrong = {
            c: str(frame[c].dtype)
            for c in spec.columns
            if str(frame[c].dtype) != _PANDAS_KIND[spec.dtypes[c]]
        }
        assert not wrong, f"{name}: dtypes differ from the schema document: {wrong}"


def test_keys_unique_and_foreign_keys_hold(month_tables):
    t = month_tables
    app_ids = set(t["application"]["SK_ID_CURR"])
    assert t["application"]["SK_ID_CURR"].is_unique
    assert t["bureau"]["SK_ID_BUREAU"].is_unique
    assert t["previous_application"]["SK_ID_PREV"].is_unique
    assert set(t["bureau"]["SK_ID_CURR"]) <= app_ids
    assert set(t["bureau_balance"]["SK_ID_BUREAU"]) <= set(t["bureau"]["SK_ID_BUREAU"])
    assert not t["bureau_balance"].duplicated(["SK_ID_BUREAU", "MONTHS_BALANCE"]).any()
    prev_ids = set(t["previous_application"]["SK_ID_PREV"])
    for child in ("POS_CASH_balance", "installments_payments", "credit_card_balance"):
        assert set(t[child]["SK_ID_PREV"]) <= prev_ids, child
        assert set(t[child]["SK_ID_CURR"]) <= app_ids, child
        pairs = t[child][["SK_ID_PREV", "SK_ID_CURR"]].drop_duplicates()
        owner = t["previous_application"].set_index("SK_ID_PREV")["SK_ID_CURR"]
        assert (owner.loc[pairs["SK_ID_PREV"]].to_numpy() == pairs["SK_ID_CURR"].to_numpy()).all()


def test_child_tables_have_kaggle_proportions(month_tables):
    n = len(month_tables["application"])
    for name, expected in KAGGLE_ROWS_PER_APPLICATION.items():
        ratio = len(month_tables[name]) / n
        assert ratio == pytest.approx(expected, rel=0.15), f"{name}: {ratio:.2f} rows/app"


def test_sentinels_and_codes(month_tables):
    app = month_tables["application"]
    sentinel = app["DAYS_EMPLOYED"] == SENTINEL_DAYS
    assert 0.15 <= sentinel.mean() <= 0.23  # 18.0% in the full data
    assert ((app["ORGANIZATION_TYPE"] == "XNA") == sentinel).all()
    assert (app.loc[~sentinel, "DAYS_EMPLOYED"] <= 0).all()
    assert (app["DAYS_BIRTH"] < 0).all()
    prev = month_tables["previous_application"]
    drawing = prev["DAYS_FIRST_DRAWING"].dropna()
    assert (drawing == SENTINEL_DAYS).mean() == pytest.approx(0.95, abs=0.03)
    assert {"XAP", "XNA"} <= set(prev["NAME_CASH_LOAN_PURPOSE"])


def test_missingness_follows_the_profile(month_tables):
    off = {}
    for name, frame in month_tables.items():
        for column in profile()[name]:
            rate = frame[column["name"]].isna().mean()
            if abs(rate - column["null_rate"]) > 0.08:
                off[f"{name}.{column['name']}"] = (round(rate, 3), column["null_rate"])
    assert not off, f"null rates off the profile (generated, profile): {off}"


def test_default_rate_is_about_eight_percent(month_tables):
    assert 0.065 <= month_tables["application"]["TARGET"].mean() <= 0.095


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_gives_byte_identical_files(tmp_path):
    options = GenerateOptions(months=2, applications_per_month=300, seed=5)
    generate_history(tmp_path / "a", options)
    generate_history(tmp_path / "b", options)
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert len(first) == 2 * 8 + 2 + 1  # 7 CSVs + _SUCCESS per month, 2 truth files, scenario
    assert first == second
    generate_history(tmp_path / "c", GenerateOptions(months=2, applications_per_month=300, seed=6))
    assert _files(tmp_path / "c") != first


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s != "none"])
def test_scenario_shifts_exactly_its_ground_truth(tmp_path, scenario):
    base = GenerateOptions(months=2, applications_per_month=3000, seed=9, drift_from="2024-02")
    generate_history(tmp_path / "none", base)
    drifted = GenerateOptions(**{**base.__dict__, "drift_scenario": scenario})
    generate_history(tmp_path / scenario, drifted)
    truth = json.loads((tmp_path / scenario / "truth" / "drift_scenario.json").read_text())
    assert truth["name"] == scenario and truth["drift_from"] == "2024-02"
    shifted = {(t, c) for t, cols in truth["shifted_columns"].items() for c in cols}

    for month in ("2024-01", "2024-02"):
        for name, spec in TABLES.items():
            a = pd.read_csv(tmp_path / "none" / "landing" / month / spec.file_name)
            b = pd.read_csv(tmp_path / scenario / "landing" / month / spec.file_name)
            for column in spec.columns:
                expected_change = month == "2024-02" and (
                    (name, column) in shifted or (column == "TARGET" and truth["label_shift"])
                )
                same = a[column].equals(b[column])
                if column == "TARGET" and not truth["label_shift"] and month == "2024-02":
                    continue  # covariate shift may move labels through the true PD: allowed
                assert same != expected_change, f"{month} {name}.{column} changed={not same}"

    after = pd.read_csv(tmp_path / scenario / "landing" / "2024-02" / "application.csv")
    before = pd.read_csv(tmp_path / "none" / "landing" / "2024-02" / "application.csv")
    if scenario == "income_shift":
        ratio = after["AMT_INCOME_TOTAL"].median() / before["AMT_INCOME_TOTAL"].median()
        assert ratio == pytest.approx(1.6, rel=0.02)
    if scenario == "product_mix":
        share = (after["NAME_CONTRACT_TYPE"] == "Revolving loans").mean()
        assert share == pytest.approx(0.35, abs=0.03)
    if scenario == "default_rate_shift":
        assert after["TARGET"].mean() > before["TARGET"].mean() + 0.03


def test_truth_holds_true_pd_for_every_applicant(small_history):
    truth = pd.read_parquet(small_history / "truth" / "2024-01.parquet")
    app = pd.read_csv(small_history / "landing" / "2024-01" / "application.csv")
    assert list(truth["SK_ID_CURR"]) == list(app["SK_ID_CURR"])
    assert truth["TRUE_PD"].between(0, 1).all()
    assert np.array_equal(truth["TARGET"].to_numpy(), app["TARGET"].to_numpy())
