"""Batch scores: the champion the audit trail agrees with scores every application of one or
more months.

The champion is loaded only after a crashed promotion is repaired (``reconcile``) and its
artifact's SHA-256 is checked (``load_champion``), so a month is never scored by a model the
audit trail does not name. A range of months (a single-run backfill) pays that once: one
champion load, one read of the features, one prediction, and the months' rows replaced in one
transaction, so every month of the range is scored or none is.

While a challenger exists (``ml/rollout.py``), the same features are scored by it too, after
the same hash check, into ``scores.shadow_scores``: the canary's evidence. A challenger that
fails to load is warned about and skipped; the champion's scores never depend on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from creditplatform.features.store import STORE, NoFeatures
from creditplatform.ml.model import predict_pd
from creditplatform.ml.promotion import current_challenger, reconcile_promotions
from creditplatform.ml.registry import Registry, load_champion, load_verified
from creditplatform.warehouse.engine import transaction
from creditplatform.warehouse.month_data import SCORES, SHADOW_SCORES


@dataclass(frozen=True)
class ScoredMonths:
    rows: int
    model_version: int
    seconds: float  # prediction alone
    artifact_sha256: str
    per_month: list[dict[str, Any]]  # month, rows, mean_pd
    shadow_version: int | None = None  # the challenger that shadow-scored the same rows
    shadow_mean_pd: float | None = None

    @property
    def mean_pd(self) -> float:
        return float(sum(m["mean_pd"] * m["rows"] for m in self.per_month) / self.rows)


def score_months(
    con: duckdb.DuckDBPyConnection,
    registry: Registry,
    months: list[str],
    run_id: str,
    warn: Callable[[str], None],
) -> ScoredMonths:
    """Score ``months`` into ``scores.batch_scores``; raises ``NoChampion``, ``ArtifactTampered``
    or ``NoFeatures`` naming the months without features (final: a retry would change nothing).
    A repaired promotion is told to ``warn``."""
    reconcile_promotions(registry, con, run_id, warn)
    champion, model = load_champion(registry)
    # Through Arrow, the faster path to pandas for a many-month range (the label is left out:
    # it is no model input, and its nullable type is where the two conversions differ).
    frame = (
        con.execute(
            f"SELECT * EXCLUDE (TARGET) FROM {STORE} WHERE list_contains(?, month) "
            "ORDER BY month, SK_ID_CURR",
            [months],
        )
        .to_arrow_table()
        .to_pandas()
    )
    missing = sorted(set(months) - set(frame["month"]))
    if missing:
        raise NoFeatures(f"no features for {', '.join(missing)} in {STORE}")
    started = time.perf_counter()
    scores = frame[["month", "SK_ID_CURR"]].assign(
        pd=predict_pd(model, frame),
        model_version=int(champion.version),
        scored_at=datetime.now(UTC),
    )
    seconds = time.perf_counter() - started
    _replace_months(con, scores, months, SCORES, "")
    shadow = _shadow_scores(registry, frame, warn)
    if shadow is not None:
        _replace_months(con, scores.assign(pd=shadow[1], model_version=shadow[0]), months,
                        SHADOW_SCORES, f" AND model_version = {shadow[0]}")  # fmt: skip
    per_month = scores.groupby("month", sort=True)["pd"].agg(rows="size", mean_pd="mean")
    return ScoredMonths(
        rows=len(scores),
        model_version=int(champion.version),
        seconds=seconds,
        artifact_sha256=champion.tags.get("artifact_sha256", ""),
        per_month=[
            {"month": month, "rows": int(row.rows), "mean_pd": float(row.mean_pd)}
            for month, row in per_month.iterrows()
        ],
        shadow_version=shadow[0] if shadow else None,
        shadow_mean_pd=float(shadow[1].mean()) if shadow else None,
    )


def _shadow_scores(
    registry: Registry, frame: pd.DataFrame, warn: Callable[[str], None]
) -> tuple[int, np.ndarray] | None:
    """The challenger's PDs for ``frame`` (None: no challenger, or it failed to load)."""
    challenger = current_challenger(registry)
    if challenger is None:
        return None
    try:
        model = load_verified(registry, registry.version(challenger))
    except Exception as err:  # the champion's scores stand; the canary waits for evidence
        warn(f"challenger v{challenger} not shadow-scored: {type(err).__name__}: {err}")
        return None
    return challenger, predict_pd(model, frame)


def ensure_scores(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS scores")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {SCORES} (month VARCHAR, SK_ID_CURR BIGINT, pd DOUBLE, "
        "model_version INTEGER, scored_at TIMESTAMPTZ)"
    )


def ensure_shadow(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS scores")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {SHADOW_SCORES} (month VARCHAR, SK_ID_CURR BIGINT, "
        "pd DOUBLE, model_version INTEGER, scored_at TIMESTAMPTZ)"
    )


def _replace_months(
    con: duckdb.DuckDBPyConnection,
    scores: pd.DataFrame,
    months: list[str],
    table: str,
    also: str,
) -> None:
    """Replace ``months`` of ``table`` (those rows matching ``also`` too) with ``scores``."""
    ensure_scores(con)
    ensure_shadow(con)
    con.register("new_scores", scores)
    with transaction(con):
        con.execute(f"DELETE FROM {table} WHERE list_contains(?, month){also}", [months])
        con.execute(
            f"INSERT INTO {table} SELECT month, SK_ID_CURR, pd, model_version, scored_at "
            "FROM new_scores"
        )
    con.unregister("new_scores")
