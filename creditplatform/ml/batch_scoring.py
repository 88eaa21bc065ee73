"""A month's batch scores: the champion the audit trail agrees with scores every application.

The champion is loaded only after a crashed promotion is repaired (``reconcile``) and its
artifact's SHA-256 is checked (``load_champion``), so a month is never scored by a model the
audit trail does not name. The month's rows are replaced in one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pandas as pd

from creditplatform.features.store import STORE, NoFeatures
from creditplatform.ml.model import predict_pd
from creditplatform.ml.promotion import reconcile_promotions
from creditplatform.ml.registry import Registry, load_champion
from creditplatform.warehouse.engine import transaction
from creditplatform.warehouse.month_data import SCORES


@dataclass(frozen=True)
class ScoredMonth:
    rows: int
    model_version: int
    mean_pd: float
    seconds: float
    artifact_sha256: str


def score_month(
    con: duckdb.DuckDBPyConnection,
    registry: Registry,
    month: str,
    run_id: str,
    warn: Callable[[str], None],
) -> ScoredMonth:
    """Score ``month`` into ``scores.batch_scores``; raises ``NoChampion``, ``ArtifactTampered``
    or ``NoFeatures`` (final: a retry would change nothing). A repaired promotion is told to
    ``warn``."""
    reconcile_promotions(registry, con, run_id, warn)
    champion, model = load_champion(registry)
    frame = con.execute(f"SELECT * FROM {STORE} WHERE month = ? ORDER BY SK_ID_CURR", [month]).df()
    if frame.empty:
        raise NoFeatures(f"no features for {month} in {STORE}")
    started = time.perf_counter()
    scores = frame[["SK_ID_CURR"]].assign(
        month=month,
        pd=predict_pd(model, frame),
        model_version=int(champion.version),
        scored_at=datetime.now(UTC),
    )
    seconds = time.perf_counter() - started
    _replace_month(con, scores)
    return ScoredMonth(
        rows=len(scores),
        model_version=int(champion.version),
        mean_pd=float(scores["pd"].mean()),
        seconds=seconds,
        artifact_sha256=champion.tags.get("artifact_sha256", ""),
    )


def ensure_scores(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS scores")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {SCORES} (month VARCHAR, SK_ID_CURR BIGINT, pd DOUBLE, "
        "model_version INTEGER, scored_at TIMESTAMPTZ)"
    )


def _replace_month(con: duckdb.DuckDBPyConnection, scores: pd.DataFrame) -> None:
    ensure_scores(con)
    con.register("new_scores", scores)
    with transaction(con):
        con.execute(f"DELETE FROM {SCORES} WHERE month = ?", [scores["month"].iloc[0]])
        con.execute(
            f"INSERT INTO {SCORES} SELECT month, SK_ID_CURR, pd, model_version, scored_at "
            "FROM new_scores"
        )
