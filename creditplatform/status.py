"""What ``creditplatform status`` reports: champion, decisions, drift and freshness."""

from __future__ import annotations

import json
from collections.abc import Set
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from creditplatform import clock
from creditplatform.months import expected_latest_month, reference_months
from creditplatform.settings import Settings
from creditplatform.warehouse.audit import history
from creditplatform.warehouse.engine import retry_while_locked
from creditplatform.warehouse.ingest import warehouse_tables

if TYPE_CHECKING:  # the registry imports MLflow; the sensors read this module
    from creditplatform.ml.registry import Registry


# A reader waits this long for a writer to release the warehouse, then reports it busy.
WAREHOUSE_WAIT_SECONDS = 15.0


def _champion(registry: Registry, now: datetime, settings: Settings) -> dict | None:
    from creditplatform.ml.registry import champion_since

    champion = registry.champion()
    if champion is None:
        return None
    registered = datetime.fromtimestamp(champion.creation_timestamp / 1000, tz=UTC)
    trained = datetime.fromisoformat(champion.tags.get("trained_at") or registered.isoformat())
    since = champion_since(champion)
    run = registry.client().get_run(champion.run_id) if champion.run_id else None
    metrics = run.data.metrics if run else {}
    age = (now - since).total_seconds() / 86400
    return {
        "version": int(champion.version),
        "trained_at": trained.isoformat(timespec="seconds"),
        "champion_since": since.isoformat(timespec="seconds"),
        "age_days": round(age, 3),
        "retirement_due": age > settings.retire_after_days,
        "metrics": {m: metrics.get(f"test_{m}") for m in ("roc_auc", "brier", "ece")},
        "data_sha256": champion.tags.get("data_sha256"),
        "drift_reference_months": reference_months(
            champion.tags.get("window", "").split(","), settings.drift_reference_months
        ),
    }


def connect_when_free(
    path: Path, wait_seconds: float, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file (the warehouse, the request log), retrying while another process
    holds its lock.

    Raises the last ``duckdb.IOException`` once ``wait_seconds`` have passed.
    """
    return retry_while_locked(lambda: duckdb.connect(str(path), read_only=read_only), wait_seconds)


def warehouse_facts(con: duckdb.DuckDBPyConnection) -> tuple[list[dict], list[str], list[dict]]:
    """Decisions, ingested months and per-month drift, from whatever tables exist yet."""
    tables = warehouse_tables(con)
    decisions = history(con) if "audit.promotions" in tables else []
    months, drift = [], []
    if "raw.ingestions" in tables:
        rows = con.execute("SELECT DISTINCT month FROM raw.ingestions ORDER BY 1").fetchall()
        months = [row[0] for row in rows]
    if "monitoring.drift" in tables:
        rows = con.execute(
            "SELECT month, max_psi, max_psi_feature, drifted_features, prediction_ks_pvalue, "
            "month_auc FROM monitoring.drift ORDER BY month"
        ).fetchall()
        names = ("month", "max_psi", "max_psi_feature", "drifted_features",
                 "prediction_ks_pvalue", "month_auc")  # fmt: skip
        drift = [dict(zip(names, row, strict=True)) for row in rows]
        for row in drift:
            row["drifted_features"] = json.loads(row["drifted_features"])
    return decisions, months, drift


# The monthly assets whose gaps status lists; scores and drift exist only once a champion does.
MONTHLY_ASSETS = ("raw", "feature_store", "batch_scores", "drift_report")
NEED_CHAMPION = ("batch_scores", "drift_report")


def month_gaps(
    landed: list[str], statuses: dict[str, dict[str, str | None]], has_champion: bool
) -> dict[str, dict[str, list[str]]]:
    """Per monthly asset, the landed months whose latest run failed, and those never built.

    ``statuses`` maps an asset to each landed month's Dagster partition status
    (``"MATERIALIZED"``, ``"FAILED"``, ``"IN_PROGRESS"`` or None). A month being built now is
    neither failed nor missing; scores and drift are not missing before there is a champion.
    """
    failed: dict[str, list[str]] = {}
    missing: dict[str, list[str]] = {}
    for asset in MONTHLY_ASSETS:
        by_month = statuses.get(asset, {})
        bad = [m for m in landed if by_month.get(m) == "FAILED"]
        absent = [m for m in landed if by_month.get(m) is None]
        if bad:
            failed[asset] = bad
        if absent and (has_champion or asset not in NEED_CHAMPION):
            missing[asset] = absent
    return {"failed": failed, "missing": missing}


def drift_episode(
    drift: list[dict],
    reference: list[str],
    decisions: list[dict],
    threshold: float,
    cooldown_hours: float,
) -> dict | None:
    """Why drift persists, in the platform's own terms; None when the newest month is stable.

    ``drift`` holds each month's ``max_psi`` (oldest first); the episode is the run of months
    at or above ``threshold`` that reaches the newest one. The champion's drift ``reference``
    months (``months.reference_months``) adapt as they come to include months of the episode;
    the next drift retrain waits for the cooldown after the last one (``decisions``: the audit
    rows, ``decided_at`` by the platform's clock).
    """
    if not drift or drift[-1]["max_psi"] is None or drift[-1]["max_psi"] < threshold:
        return None
    episode: list[str] = []
    for row in reversed(drift):
        if row["max_psi"] is None or row["max_psi"] < threshold:
            break
        episode.insert(0, row["month"])
    last = max((d["decided_at"] for d in decisions if d["trigger"] == "drift"), default=None)
    after = last + timedelta(hours=cooldown_hours) if last is not None else None
    return {
        "since": episode[0],
        "months": len(episode),
        "reference_months": reference,
        "reference_months_in_episode": sum(m >= episode[0] for m in reference),
        "next_drift_retrain_after": after.isoformat(timespec="seconds") if after else None,
    }


def describe_episode(episode: dict | None) -> str:
    if episode is None:
        return ""
    after = episode["next_drift_retrain_after"]
    return (
        f"drift persists since {episode['since']} ({episode['months']} month(s)): "
        + (f"next drift retrain allowed after {after}; " if after else "")
        + f"drifted months in the champion's reference: {episode['reference_months_in_episode']} "
        f"of {len(episode['reference_months'])}"
    )


def status(
    settings: Settings,
    registry: Registry,
    drift_retrain_months: Set[str] = frozenset(),
    now: datetime | None = None,
    month_statuses: tuple[list[str], dict[str, dict[str, str | None]]] | None = None,
) -> dict:
    """``drift_retrain_months``: months whose drift report led to a retrain run (run tags);
    ``month_statuses``: the landed months and each monthly asset's partition status for them
    (from the Dagster instance), reported as failed and missing months.

    Status never fails because a writer holds the warehouse: it waits up to
    ``WAREHOUSE_WAIT_SECONDS``, then reports the warehouse busy with what MLflow alone tells.
    When it can open the warehouse it first reconciles the registry with the audit trail, so
    what it reports is the repaired truth.
    """
    from creditplatform.ml.promotion import reconcile

    now = now or clock.now(settings.data_dir)
    decisions: list[dict[str, Any]] = []
    months: list[str] = []
    drift: list[dict[str, Any]] = []
    reconciled: list[str] = []
    warehouse, challenger = "absent", None
    if settings.warehouse.exists():
        try:
            with settings.warehouse.connect(wait_seconds=WAREHOUSE_WAIT_SECONDS) as con:
                reconciled = [r.reasons[-1] for r in reconcile(registry, con)]
                decisions, months, drift = warehouse_facts(con)
                challenger = challenger_block(registry, con, settings, decisions)
            warehouse = "ok"
        except duckdb.IOException as err:
            warehouse = f"busy: another process holds it ({str(err).splitlines()[0][:120]})"
    for row in drift:
        row["retrain_requested"] = row["month"] in drift_retrain_months
    champion = _champion(registry, now, settings)
    episode = drift_episode(
        drift, champion["drift_reference_months"] if champion else [], decisions,
        settings.drift_psi_threshold, settings.drift_cooldown_hours,
    )  # fmt: skip
    landed, statuses = month_statuses or ([], {})
    return {
        "months": month_gaps(landed, statuses, champion is not None),
        "champion": champion,
        "challenger": challenger,
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
        "drift": drift,
        "drift_episode": episode,
        "warehouse": warehouse,
        "reconciled": reconciled,
        "freshness": {
            "ingested_months": months,
            "latest_ingested_month": months[-1] if months else None,
            "expected_latest_month": expected_latest_month(now, settings.raw_due_day),
            "champion_age_days": champion["age_days"] if champion else None,
            "model_overdue": champion is None or champion["age_days"] > settings.model_max_age_days,
            "retire_after_days": settings.retire_after_days,
        },
    }


def challenger_block(
    registry: Registry, con: duckdb.DuckDBPyConnection, settings: Settings, decisions: list[dict]
) -> dict | None:
    """The challenger in shadow, its stage (``shadow``, or ``held`` by the canary), how many
    applicants it has shadow-scored beside the champion, and the canary's figures on them."""
    from creditplatform.ml.canary import CanaryLimits, compare
    from creditplatform.ml.promotion import alias_version, current_challenger
    from creditplatform.ml.registry import CHAMPION
    from creditplatform.ml.rollout import shadow_pairs

    version, champion = current_challenger(registry), alias_version(registry, CHAMPION)
    if version is None or champion is None:
        return None
    mine = [d["decision"] for d in decisions if d["version"] == version]
    pairs, whole = shadow_pairs(con, champion, version)
    result = compare(pairs["champion_pd"].to_numpy(), pairs["challenger_pd"].to_numpy(),
                     CanaryLimits.of(settings),
                     (champion, version), sorted(pairs["month"].unique()), whole)  # fmt: skip
    figures = {f.name: f for f in result.figures}
    value = lambda name: figures[name].value if name in figures else None  # noqa: E731
    return {
        "version": version, "champion": champion,
        "stage": "held" if "held" in mine else "shadow",
        "shadow_applicants": result.applicants, "shadow_months": result.months,
        "canary": result.verdict,
        "approval_rate_delta": value("approval_rate_delta"),
        "mean_pd_delta": value("mean_pd_delta"), "psi": value("psi"),
        "flip_share": value("flip_share"),
        "figures": [f.text() for f in result.figures],
    }  # fmt: skip


def render(report: dict) -> str:
    lines = []
    if report["warehouse"].startswith("busy"):
        lines.append(f"warehouse {report['warehouse']}: decisions and drift not shown")
    lines += [f"reconciled: {note}" for note in report["reconciled"]]
    champion = report["champion"]
    if champion is None:
        lines.append("champion: none yet (run the retrain job)")
    else:
        m = champion["metrics"]
        fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
        lines.append(
            f"champion: v{champion['version']} since {champion['champion_since']} "
            f"({champion['age_days']:.1f} days), trained {champion['trained_at']} — "
            f"test ROC-AUC {fmt(m['roc_auc'])}, "
            f"Brier {fmt(m['brier'])}, ECE {fmt(m['ece'])}"
        )
        if champion["retirement_due"]:
            lines.append(
                f"retirement due: v{champion['version']} has been champion "
                f"{champion['age_days']:.0f} days (limit "
                f"{report['freshness']['retire_after_days']:.0f}): review it or retrain"
            )
    if challenger := report.get("challenger"):
        lines.append(
            f"challenger: v{challenger['version']} in {challenger['stage']} beside champion "
            f"v{challenger['champion']}, {challenger['shadow_applicants']} applicants "
            f"shadow-scored, canary {challenger['canary']}"
        )
        lines += [f"  - {figure}" for figure in challenger["figures"]]
    if report["decisions"]:
        last = report["decisions"][-1]
        what = f"v{last['version']} {last['decision']}"
        lines.append(f"last decision: {what} ({last['trigger']}, {last['at']})")
        lines += [f"  - {reason}" for reason in last["reasons"]]
    for row in report["drift"]:
        flag = " -> retrain requested" if row["retrain_requested"] else ""
        drifted = ", ".join(row["drifted_features"][:4]) or "none"
        lines.append(
            f"  drift {row['month']}: max PSI {row['max_psi']:.3f} (drifted: {drifted}){flag}"
        )
    if report.get("drift_episode"):
        lines.append(describe_episode(report["drift_episode"]))
    fresh = report["freshness"]
    lines.append(
        f"ingested months: {len(fresh['ingested_months'])}, latest {fresh['latest_ingested_month']}"
    )
    for kind in ("failed", "missing"):
        for asset, months in report["months"][kind].items():
            lines.append(f"{kind} {asset}: {', '.join(months)}")
    return "\n".join(lines)
