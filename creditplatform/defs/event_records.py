"""Reading the instance's event log the way the sensors need it: one home for the unwrapping
(a record's materialization, its metadata values, a run's check evaluations), so every sensor
reads the same fields the same way and the type checker sees concrete types."""

from collections.abc import Mapping
from typing import Any

import dagster as dg

Metadata = Mapping[str, dg.MetadataValue]


def materialization(record: dg.EventLogRecord) -> dg.AssetMaterialization:
    """The materialization a record from ``fetch_materializations`` carries."""
    found = record.asset_materialization
    if found is None:
        raise ValueError(f"event {record.storage_id} is not an asset materialization")
    return found


def value(metadata: Metadata, key: str) -> Any:
    """The raw value of one metadata entry (None when absent)."""
    entry = metadata.get(key)
    return None if entry is None else entry.value


def number(metadata: Metadata, key: str) -> float | None:
    """A numeric metadata entry, None when absent or NaN (a NaN is Dagster's 'no value')."""
    found = value(metadata, key)
    return None if found is None or found != found else float(found)


def check_evaluations(instance: dg.DagsterInstance, run_id: str) -> list[dg.AssetCheckEvaluation]:
    """The asset check evaluations of one run (read run-aware, so it works on the default
    run-sharded SQLite storage)."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    events = (r.event_log_entry.dagster_event for r in records)
    return [
        e.event_specific_data
        for e in events
        if e is not None and isinstance(e.event_specific_data, dg.AssetCheckEvaluation)
    ]
