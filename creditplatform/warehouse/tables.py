"""Every warehouse table, created in one step.

On DuckLake concurrent DDL can conflict, so a lake's tables are all created here, once, under
an advisory lock (``WarehouseLocation.connect``) before any writer runs; the writers' own
``CREATE ... IF NOT EXISTS`` then find them and change nothing. The local file creates them
lazily in the same functions, since its writers are serialised anyway.
"""

from __future__ import annotations

import duckdb

from creditplatform.features.store import ensure_store
from creditplatform.ml.batch_scoring import ensure_scores, ensure_shadow
from creditplatform.ml.training_data import ensure_splits
from creditplatform.warehouse.audit import ensure_audit
from creditplatform.warehouse.ingest import ensure_raw_tables
from creditplatform.warehouse.monitoring import ensure_monitoring


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    """Create (or migrate) every table; raw first, since the feature store is shaped by the
    feature query over it."""
    ensure_raw_tables(con)
    ensure_store(con)
    ensure_splits(con)
    ensure_scores(con)
    ensure_shadow(con)
    ensure_monitoring(con)
    ensure_audit(con)
