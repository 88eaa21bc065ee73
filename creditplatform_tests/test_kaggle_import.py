"""import-kaggle on a Kaggle-format fixture: deterministic months, children follow applicants,
orphans dropped, test applicants unlabelled, and the result passes the landing contracts."""

import hashlib
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from creditplatform.homecredit import TABLES
from creditplatform.kaggle import import_kaggle
from creditplatform.warehouse.ingest import ingest_month


@pytest.fixture(scope="module")
def kaggle_dir(small_history, tmp_path_factory) -> Path:
    """The Kaggle file set, built from two generated months (as Kaggle ships them)."""
    out = tmp_path_factory.mktemp("kaggle")
    landing = small_history / "landing"
    frames = {
        name: pd.concat(
            [pd.read_csv(landing / m / spec.file_name, dtype=str, keep_default_na=False)
             for m in ("2024-01", "2024-02")]
        )
        for name, spec in TABLES.items()
    }  # fmt: skip
    app = frames.pop("application")
    train, test = app.iloc[:600], app.iloc[600:].drop(columns=["TARGET"])
    train.to_csv(out / "application_train.csv", index=False)
    test.to_csv(out / "application_test.csv", index=False)
    orphan = frames["bureau_balance"].iloc[:1].assign(SK_ID_BUREAU="424242")
    frames["bureau_balance"] = pd.concat([frames["bureau_balance"], orphan])
    # A card row whose previous application belongs to another applicant (the key pair rule).
    cards = frames["credit_card_balance"]
    other = next(i for i in app["SK_ID_CURR"] if i != cards["SK_ID_CURR"].iloc[0])
    stray = cards.iloc[:1].assign(SK_ID_CURR=other, MONTHS_BALANCE="-99")
    frames["credit_card_balance"] = pd.concat([cards, stray])
    for name, frame in frames.items():
        frame.to_csv(out / f"{name}.csv", index=False)
    return out


def _digest(folder: Path) -> str:
    return hashlib.sha256(
        b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())
    ).hexdigest()


def test_split_rule_children_and_contracts(kaggle_dir, tmp_path):
    landing = tmp_path / "landing"
    report = import_kaggle(kaggle_dir, landing, months=3, start="2024-01")
    assert report.months == ["2024-01", "2024-02", "2024-03", "2024-04"]
    assert report.dropped["bureau_balance"] == 1  # the orphan
    assert report.dropped["credit_card_balance"] == 1  # the row naming another applicant
    assert sum(report.rows["application"].values()) == 800

    apps = {m: pd.read_csv(landing / m / "application.csv") for m in report.months}
    assert [len(a) for a in apps.values()] == [200, 200, 200, 200]
    # Labelled months are contiguous SK_ID_CURR blocks of the train file, in order.
    assert apps["2024-01"]["SK_ID_CURR"].max() < apps["2024-02"]["SK_ID_CURR"].min()
    assert apps["2024-04"]["TARGET"].isna().all()  # application_test: outcome unknown
    assert apps["2024-01"]["TARGET"].notna().all()

    for month, app in apps.items():
        ids = set(app["SK_ID_CURR"])
        bureau = pd.read_csv(landing / month / "bureau.csv")
        assert set(bureau["SK_ID_CURR"]) <= ids
        balance = pd.read_csv(landing / month / "bureau_balance.csv")
        assert set(balance["SK_ID_BUREAU"]) <= set(bureau["SK_ID_BUREAU"])
        with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
            result = ingest_month(con, landing, month)
        assert result.published, result.failure_message()

    source_children = pd.read_csv(kaggle_dir / "installments_payments.csv")
    landed = sum(report.rows["installments_payments"].values())
    assert landed == len(source_children)  # nothing lost that had a parent


def test_values_are_copied_unchanged_and_deterministically(kaggle_dir, tmp_path):
    """Twice, from and to directories whose names SQL must quote, byte for byte the same."""
    source_dir = shutil.copytree(kaggle_dir, tmp_path / 'kaggle\'s "files"')
    import_kaggle(source_dir, tmp_path / "a", months=2, start="2024-01")
    import_kaggle(source_dir, tmp_path / "it's b", months=2, start="2024-01")
    assert _digest(tmp_path / "a") == _digest(tmp_path / "it's b")
    source = pd.read_csv(kaggle_dir / "application_train.csv", dtype=str, keep_default_na=False)
    landed = pd.concat(
        pd.read_csv(tmp_path / "a" / m / "application.csv", dtype=str, keep_default_na=False)
        for m in ("2024-01", "2024-02")
    )
    pd.testing.assert_frame_equal(
        landed.reset_index(drop=True), source.reset_index(drop=True), check_dtype=False
    )


def test_missing_kaggle_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"application_train\.csv"):
        import_kaggle(tmp_path, tmp_path / "landing", months=2, start="2024-01")
