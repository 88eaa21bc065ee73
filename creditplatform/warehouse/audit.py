"""The promotion audit trail and its journal.

``audit.promotions`` has one row per decision, appended, never updated: challenger (gates
passed; the version shadows the champion), promoted, held (the canary found it moves decisions
too far; a person decides), rejected, rolled_back, failed (an attempt that stopped before its
commit point) and reconciled (a champion found without an audit row).
``audit.promotion_journal`` has one row per attempt, written *before* anything in the registry
moves (state ``pending``) and closed in the same transaction as its audit row (``done``) or by
the reconciler (``reconciled``). A pending row is therefore the evidence of an attempt whose
process stopped in between.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import duckdb

from creditplatform.warehouse.engine import transaction

AUDIT_TABLE = "audit.promotions"
JOURNAL_TABLE = "audit.promotion_journal"
DECISIONS = ("challenger", "promoted", "held", "rejected", "rolled_back", "failed", "reconciled")


@dataclass(frozen=True)
class AuditRecord:
    decided_at: datetime
    version: int
    decision: str  # one of DECISIONS
    trigger: str
    reasons: list[str]
    gates: dict[str, Any]
    dagster_run_id: str
    data_sha256: str
    previous_champion: int | None
    champion_after: int | None
    attempt_id: str = ""

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise ValueError(f"audit decision {self.decision!r} is not one of {DECISIONS}")


def ensure_audit(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS audit")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {AUDIT_TABLE} (decided_at TIMESTAMPTZ, version INTEGER, "
        "decision VARCHAR, trigger VARCHAR, reasons JSON, gates JSON, dagster_run_id VARCHAR, "
        "data_sha256 VARCHAR, previous_champion INTEGER, champion_after INTEGER)"
    )
    con.execute(f"ALTER TABLE {AUDIT_TABLE} ADD COLUMN IF NOT EXISTS attempt_id VARCHAR")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {JOURNAL_TABLE} (attempt_id VARCHAR, started_at TIMESTAMPTZ, "
        "version INTEGER, decision VARCHAR, previous_champion INTEGER, record JSON, "
        "state VARCHAR, closed_at TIMESTAMPTZ)"
    )


def _row(record: AuditRecord) -> list[Any]:
    row = asdict(record)
    row["reasons"] = json.dumps(record.reasons)
    row["gates"] = json.dumps(record.gates, default=str)
    return list(row.values())


def append(con: duckdb.DuckDBPyConnection, record: AuditRecord) -> None:
    ensure_audit(con)
    columns = ", ".join(AuditRecord.__dataclass_fields__)
    con.execute(
        f"INSERT INTO {AUDIT_TABLE} ({columns}) VALUES "
        f"({', '.join('?' * len(AuditRecord.__dataclass_fields__))})",
        _row(record),
    )


def open_attempt(con: duckdb.DuckDBPyConnection, record: AuditRecord) -> None:
    """Journal the intended decision before anything moves (committed on return)."""
    ensure_audit(con)
    payload = asdict(record) | {"decided_at": record.decided_at.isoformat()}
    con.execute(
        f"INSERT INTO {JOURNAL_TABLE} VALUES (?, ?, ?, ?, ?, ?, 'pending', NULL)",
        [record.attempt_id, record.decided_at, record.version, record.decision,
         record.previous_champion, json.dumps(payload, default=str)],
    )  # fmt: skip


def close_attempt(
    con: duckdb.DuckDBPyConnection, record: AuditRecord, state: str, when: datetime
) -> None:
    """Append the audit row and close its journal row in one transaction."""
    with transaction(con):
        append(con, record)
        con.execute(
            f"UPDATE {JOURNAL_TABLE} SET state = ?, closed_at = ? WHERE attempt_id = ?",
            [state, when, record.attempt_id],
        )


def pending_attempts(con: duckdb.DuckDBPyConnection) -> list[AuditRecord]:
    """Attempts whose process stopped between the journal write and the audit row, oldest first."""
    ensure_audit(con)
    rows = con.execute(
        f"SELECT record FROM {JOURNAL_TABLE} WHERE state = 'pending' ORDER BY started_at"
    ).fetchall()
    records = []
    for (text,) in rows:
        payload = json.loads(text)
        payload["decided_at"] = datetime.fromisoformat(payload["decided_at"])
        records.append(AuditRecord(**payload))
    return records


def last_champion_after(con: duckdb.DuckDBPyConnection) -> int | None:
    """The champion the audit trail last recorded (None: no decision moved one yet)."""
    ensure_audit(con)
    row = con.execute(
        f"SELECT champion_after FROM {AUDIT_TABLE} ORDER BY decided_at DESC LIMIT 1"
    ).fetchone()
    return row[0] if row else None


def decided(con: duckdb.DuckDBPyConnection, version: int, decision: str) -> bool:
    """Whether ``version`` was ever audited with ``decision`` (e.g. held: alert once)."""
    ensure_audit(con)
    found = con.execute(
        f"SELECT 1 FROM {AUDIT_TABLE} WHERE version = ? AND decision = ? LIMIT 1",
        [version, decision],
    ).fetchone()
    return found is not None


def history(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every decision, oldest first (the table must exist: see ``ensure_audit``)."""
    cursor = con.execute(f"SELECT * FROM {AUDIT_TABLE} ORDER BY decided_at")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
