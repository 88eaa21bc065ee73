"""The shipped column profile is the shared schema document, column for column."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from creditplatform.homecredit import TABLES, profile
from creditplatform_tests.conftest import SHARED_DIR

SCHEMA_DOC = SHARED_DIR / "homecredit_schema.md"
EXPECTED_WIDTHS = {
    "application": 122,
    "bureau": 17,
    "bureau_balance": 3,
    "previous_application": 37,
    "POS_CASH_balance": 8,
    "installments_payments": 8,
    "credit_card_balance": 23,
}


def _extractor():
    path = Path(__file__).resolve().parents[1] / "scripts" / "extract_schema_profile.py"
    spec = importlib.util.spec_from_file_location("extract_schema_profile", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_table_widths_match_kaggle():
    assert {name: len(spec.columns) for name, spec in TABLES.items()} == EXPECTED_WIDTHS


def test_application_keeps_kaggle_column_order():
    columns = TABLES["application"].columns
    assert columns[:3] == ("SK_ID_CURR", "TARGET", "NAME_CONTRACT_TYPE")
    assert columns[-1] == "AMT_REQ_CREDIT_BUREAU_YEAR"
    assert "AMT_RECIVABLE" in TABLES["credit_card_balance"].columns  # the real misspelling


@pytest.mark.skipif(not SCHEMA_DOC.exists(), reason=f"{SCHEMA_DOC} is not beside the checkout")
def test_profile_is_the_schema_document():
    parsed = _extractor().parse(SCHEMA_DOC.read_text(encoding="utf-8"))
    assert json.loads(json.dumps(parsed)) == profile()
