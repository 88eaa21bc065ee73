"""Read split rows of the feature store for a given split set (SQL on the warehouse)."""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from creditplatform.features.store import STORE
from creditplatform.ml.splits import SPLITS, matured_months
from creditplatform.sql import one_row
from creditplatform.warehouse.engine import WarehouseLocation, transaction

SPLITS_TABLE = "ml.training_splits"


def ensure_splits(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS ml")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {SPLITS_TABLE} (split_set VARCHAR, month VARCHAR, "
        "SK_ID_CURR BIGINT, split VARCHAR)"
    )


def save_splits(con: duckdb.DuckDBPyConnection, split_set: str, splits: pd.DataFrame) -> None:
    """Keep every split set (they are small) so each model's rows stay reproducible."""
    ensure_splits(con)
    con.register("new_splits", splits[["month", "SK_ID_CURR", "split"]])
    with transaction(con):
        con.execute(f"DELETE FROM {SPLITS_TABLE} WHERE split_set = ?", [split_set])
        con.execute(
            f"INSERT INTO {SPLITS_TABLE} SELECT ?, month, SK_ID_CURR, split FROM new_splits",
            [split_set],
        )
    con.unregister("new_splits")


def _split_rows(columns: str, months: list[str] | None) -> str:
    within = " AND list_contains(?, f.month)" if months is not None else ""
    return (
        f"SELECT {columns} FROM {STORE} f JOIN {SPLITS_TABLE} s USING (month, SK_ID_CURR) "
        f"WHERE s.split_set = ? AND s.split = ?{within}"
    )


def _split_params(split_set: str, split: str, months: list[str] | None) -> list[Any]:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}")
    return [split_set, split] + ([months] if months is not None else [])


def load_split(
    con: duckdb.DuckDBPyConnection, split_set: str, split: str, months: list[str] | None = None
) -> pd.DataFrame:
    """The split's feature rows (of ``months`` only, when given), in month and applicant
    order."""
    return con.execute(
        _split_rows("f.*", months) + " ORDER BY f.month, f.SK_ID_CURR",
        _split_params(split_set, split, months),
    ).df()


def split_fingerprint(
    con: duckdb.DuckDBPyConnection, split_set: str, split: str, months: list[str] | None = None
) -> str:
    """Row count and an order-free hash of the split's feature rows as they are now, computed
    in DuckDB without reading them out: a key that changes when a feature month is rebuilt."""
    rows, digest = one_row(
        con.execute(
            _split_rows("count(*), bit_xor(hash(f))", months),
            _split_params(split_set, split, months),
        )
    )
    return f"{rows}-{digest or 0:016x}"


def label_share_by_month(con: duckdb.DuckDBPyConnection) -> pd.Series:
    frame = con.execute(
        "SELECT month, avg(CAST(TARGET IS NOT NULL AS DOUBLE)) AS share "
        f"FROM {STORE} GROUP BY month"
    ).df()
    return frame.set_index("month")["share"]


def matured_months_if_free(warehouse: WarehouseLocation, minimum_share: float) -> list[str] | None:
    """Matured months in the feature store, read-only; None while a writer holds the local
    warehouse file (a sensor tick must not wait on, or fail because of, a run)."""
    if not warehouse.exists():
        return []
    try:
        with warehouse.connect(read_only=True) as con:
            return matured_months(label_share_by_month(con), minimum_share)
    except duckdb.CatalogException:
        return []  # no feature store yet
    except duckdb.IOException:
        return None
