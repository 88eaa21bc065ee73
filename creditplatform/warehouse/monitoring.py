"""The monitoring tables: one drift row per month, and the champion's cached reference scores."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from creditplatform.sql import scalar
from creditplatform.warehouse.engine import transaction
from creditplatform.warehouse.ingest import warehouse_tables
from creditplatform.warehouse.month_data import DRIFT_TABLE

REFERENCE_SCORES = "monitoring.reference_scores"


def hours_since_drift_retrain(con: duckdb.DuckDBPyConnection, now: datetime) -> float | None:
    """Hours by the platform's clock since the last drift-triggered promotion decision."""
    if "audit.promotions" not in warehouse_tables(con):
        return None
    last = scalar(
        con.execute("SELECT max(decided_at) FROM audit.promotions WHERE trigger = 'drift'")
    )
    return None if last is None else (now - last).total_seconds() / 3600


def cached_reference_scores(
    con: duckdb.DuckDBPyConnection, version: int, data_sha256: str
) -> np.ndarray | None:
    """The champion's scores on its own training rows, if a previous month stored them.

    They depend only on the model and its training rows, so they are computed once per
    champion (4 s at 200k rows), not once per month.
    """
    if REFERENCE_SCORES not in warehouse_tables(con):
        return None
    scores = con.execute(
        f"SELECT pd FROM {REFERENCE_SCORES} WHERE model_version = ? AND data_sha256 = ? "
        "ORDER BY position",
        [version, data_sha256],
    ).fetchnumpy()["pd"]
    return np.asarray(scores) if len(scores) else None


def ensure_monitoring(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS monitoring")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {REFERENCE_SCORES} (model_version INTEGER, "
        "data_sha256 VARCHAR, position INTEGER, pd DOUBLE)"
    )
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {DRIFT_TABLE} (month VARCHAR, computed_at TIMESTAMPTZ, "
        "champion_version INTEGER, max_psi DOUBLE, max_psi_feature VARCHAR, drifted_features JSON, "
        "prediction_ks_pvalue DOUBLE, new_labelled_rows BIGINT, month_auc DOUBLE, "
        "auc_relative_drop DOUBLE, retrain_evidence JSON)"
    )


def store_reference_scores(
    con: duckdb.DuckDBPyConnection, version: int, data_sha256: str, scores: np.ndarray
) -> None:
    ensure_monitoring(con)
    rows = pd.DataFrame({"position": np.arange(len(scores)), "pd": scores})
    con.register("reference_rows", rows)
    with transaction(con):
        con.execute(
            f"DELETE FROM {REFERENCE_SCORES} WHERE model_version = ? AND data_sha256 = ?",
            [version, data_sha256],
        )
        con.execute(
            f"INSERT INTO {REFERENCE_SCORES} SELECT ?, ?, position, pd FROM reference_rows",
            [version, data_sha256],
        )
    con.unregister("reference_rows")


def record_drift(con: duckdb.DuckDBPyConnection, row: dict[str, Any]) -> None:
    """Replace the month's row in ``monitoring.drift`` (``status`` and the sensors read it)."""
    ensure_monitoring(con)
    with transaction(con):
        con.execute(f"DELETE FROM {DRIFT_TABLE} WHERE month = ?", [row["month"]])
        con.execute(
            f"INSERT INTO {DRIFT_TABLE} VALUES ({', '.join('?' * len(row))})", list(row.values())
        )
