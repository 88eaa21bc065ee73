"""The promotion audit trail: one row per decision, appended, never updated."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime

import duckdb

AUDIT_TABLE = "audit.promotions"


@dataclass(frozen=True)
class AuditRecord:
    decided_at: datetime
    version: int
    decision: str  # promoted | rejected | rolled_back
    trigger: str
    reasons: list[str]
    gates: dict
    dagster_run_id: str
    data_sha256: str
    previous_champion: int | None
    champion_after: int | None


def ensure_audit(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS audit")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {AUDIT_TABLE} (decided_at TIMESTAMPTZ, version INTEGER, "
        "decision VARCHAR, trigger VARCHAR, reasons JSON, gates JSON, dagster_run_id VARCHAR, "
        "data_sha256 VARCHAR, previous_champion INTEGER, champion_after INTEGER)"
    )


def append(con: duckdb.DuckDBPyConnection, record: AuditRecord) -> None:
    ensure_audit(con)
    row = asdict(record)
    row["reasons"] = json.dumps(record.reasons)
    row["gates"] = json.dumps(record.gates)
    con.execute(
        f"INSERT INTO {AUDIT_TABLE} VALUES ({', '.join('?' * len(row))})", list(row.values())
    )


def history(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Every decision, oldest first (the table must exist: see ``ensure_audit``)."""
    cursor = con.execute(f"SELECT * FROM {AUDIT_TABLE} ORDER BY decided_at")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
