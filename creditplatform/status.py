"""What ``creditplatform status`` reports: champion, decisions, drift and freshness."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb

from creditplatform.ml.registry import Registry
from creditplatform.settings import Settings
from creditplatform.warehouse.audit import history

RETIRE_AFTER_DAYS = 90


def _champion(registry: Registry, now: datetime) -> dict | None:
    champion = registry.champion()
    if champion is None:
        return None
    trained = datetime.fromtimestamp(champion.creation_timestamp / 1000, tz=UTC)
    run = registry.client().get_run(champion.run_id) if champion.run_id else None
    metrics = run.data.metrics if run else {}
    age = (now - trained).total_seconds() / 86400
    return {
        "version": int(champion.version),
        "trained_at": trained.isoformat(timespec="seconds"),
        "age_days": round(age, 3),
        "retirement_due": age > RETIRE_AFTER_DAYS,
        "metrics": {m: metrics.get(f"test_{m}") for m in ("roc_auc", "brier", "ece")},
        "data_sha256": champion.tags.get("data_sha256"),
    }


def _warehouse_facts(settings: Settings) -> tuple[list[dict], list[str]]:
    if not settings.warehouse_path.exists():
        return [], []
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        tables = {
            r[0]
            for r in con.execute(
                "SELECT schema_name || '.' || table_name FROM duckdb_tables()"
            ).fetchall()
        }
        decisions = history(con) if "audit.promotions" in tables else []
        months = []
        if "raw.ingestions" in tables:
            months = [
                r[0]
                for r in con.execute(
                    "SELECT DISTINCT month FROM raw.ingestions ORDER BY 1"
                ).fetchall()
            ]
    return decisions, months


def status(settings: Settings, registry: Registry, now: datetime | None = None) -> dict:
    now = now or datetime.now(UTC)
    decisions, months = _warehouse_facts(settings)
    champion = _champion(registry, now)
    return {
        "champion": champion,
        "decisions": [
            {
                "version": d["version"],
                "decision": d["decision"],
                "trigger": d["trigger"],
                "reasons": json.loads(d["reasons"]),
                "at": d["decided_at"].isoformat(timespec="seconds"),
            }
            for d in decisions
        ],
        "drift": [],
        "freshness": {
            "ingested_months": months,
            "latest_ingested_month": months[-1] if months else None,
            "champion_age_days": champion["age_days"] if champion else None,
            "retire_after_days": RETIRE_AFTER_DAYS,
        },
    }


def render(report: dict) -> str:
    lines = []
    champion = report["champion"]
    if champion is None:
        lines.append("champion: none yet (run the retrain job)")
    else:
        m = champion["metrics"]
        fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
        lines.append(
            f"champion: v{champion['version']} trained {champion['trained_at']} "
            f"({champion['age_days']:.1f} days ago) — test ROC-AUC {fmt(m['roc_auc'])}, "
            f"Brier {fmt(m['brier'])}, ECE {fmt(m['ece'])}"
        )
    if report["decisions"]:
        last = report["decisions"][-1]
        what = f"v{last['version']} {last['decision']}"
        lines.append(f"last decision: {what} ({last['trigger']}, {last['at']})")
        lines += [f"  - {reason}" for reason in last["reasons"]]
    fresh = report["freshness"]
    lines.append(
        f"ingested months: {len(fresh['ingested_months'])}, latest {fresh['latest_ingested_month']}"
    )
    return "\n".join(lines)
