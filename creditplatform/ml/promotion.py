"""Promotion as a journal with one commit point, and the reconciler that repairs a crash.

Two stores take part: the registry (MLflow aliases and tags) and the audit trail (DuckDB).
They cannot share a transaction, so every attempt follows one protocol:

1. journal the intended decision (``audit.promotion_journal``, state ``pending``);
2. move the alias the decision is about — that move is the attempt's single commit point:
   ``challenger`` for a candidate that passed its gates while a champion exists (it shadows
   the champion until the canary decides, ``ml/rollout.py``); ``challenger``, then
   ``champion`` for a promotion, then the tags (``champion_since`` on the new champion,
   ``archived`` on the one it replaces, never on the champion); the ``challenger`` alias is
   removed for a challenger a person rejects;
3. append the audit row and close the journal row in one DuckDB transaction.

A process that dies anywhere leaves a pending journal row. ``reconcile`` (run before every
promotion, manual promotion and scoring run, and by ``creditplatform status``) reads the alias
to learn whether the commit point was passed: if so the promotion stands and its audit row is
written; if not, the aliases and tags are put back and a ``failed`` row is written. A champion
the audit trail has never heard of (an alias moved outside the platform) is recorded as
``reconciled``, or rolled back when it lacks its lineage tags. No Dagster import.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import duckdb
from mlflow.exceptions import MlflowException

from creditplatform.crashpoints import crashpoint
from creditplatform.ml.gates import GatePolicy, decide
from creditplatform.ml.records import EvaluationInfo
from creditplatform.ml.registry import (
    CHALLENGER,
    CHAMPION,
    Registry,
    close_orphaned_runs,
    missing_lineage,
    target_problems,
)
from creditplatform.warehouse.audit import (
    AuditRecord,
    append,
    close_attempt,
    last_champion_after,
    open_attempt,
    pending_attempts,
)

MOVES_CHAMPION = ("promoted", "rolled_back")
MOVES_CHALLENGER = "challenger"
RECONCILER = "reconciler"


@dataclass(frozen=True)
class Attempt:
    """Who asks for a decision, and when: the run, its trigger, the platform's clock, and where
    warnings about repaired earlier attempts go."""

    run_id: str
    trigger: str
    decided_at: datetime
    warn: Callable[[str], None]
    note: str = ""  # what a person asked for (``records.request_note``): the audit's first reason


def new_attempt_id() -> str:
    return uuid.uuid4().hex


def alias_version(registry: Registry, alias: str) -> int | None:
    try:
        found = registry.client().get_model_version_by_alias(registry.model_name, alias)
    except MlflowException:
        return None
    return int(found.version)


def _delete_tag(registry: Registry, version: int, key: str) -> None:
    client = registry.client()
    if key in client.get_model_version(registry.model_name, str(version)).tags:
        client.delete_model_version_tag(registry.model_name, str(version), key)


def settle_tags(registry: Registry, champion: int, previous: int | None, when: str) -> None:
    """Tags after ``champion`` replaced ``previous``: idempotent, so the reconciler reuses it."""
    client = registry.client()
    _delete_tag(registry, champion, "archived")
    _delete_tag(registry, champion, "archived_at")
    current = client.get_model_version(registry.model_name, str(champion)).tags
    if current.get("champion_since") != when:
        client.set_model_version_tag(registry.model_name, str(champion), "champion_since", when)
    if previous is not None and previous != champion:
        client.set_model_version_tag(registry.model_name, str(previous), "archived", "true")
        client.set_model_version_tag(registry.model_name, str(previous), "archived_at", when)


def current_challenger(registry: Registry) -> int | None:
    """The version in shadow: the ``challenger`` alias when it names another version than the
    champion (after a promotion both aliases name the champion: no challenger)."""
    challenger = alias_version(registry, CHALLENGER)
    return (
        None
        if challenger is None or challenger == alias_version(registry, CHAMPION)
        else challenger
    )


def _set_challenger(registry: Registry, version: int | None) -> None:
    """``challenger`` → ``version``, or no challenger alias when ``version`` is None."""
    client = registry.client()
    if version is not None:
        client.set_registered_model_alias(registry.model_name, CHALLENGER, str(version))
    elif alias_version(registry, CHALLENGER) is not None:
        client.delete_registered_model_alias(registry.model_name, CHALLENGER)


def _drops_challenger(record: AuditRecord) -> bool:
    return record.decision == "rejected" and record.gates.get("action") == "reject"


def switch_champion(registry: Registry, version: int, previous: int | None, when: str) -> None:
    """challenger → version, champion → version (the commit point), then the tags."""
    crashpoint("before_alias_switch")
    client = registry.client()
    client.set_registered_model_alias(registry.model_name, CHALLENGER, str(version))
    client.set_registered_model_alias(registry.model_name, CHAMPION, str(version))
    crashpoint("after_alias_switch")
    settle_tags(registry, version, previous, when)


def restore_champion(
    registry: Registry, attempted: int, previous: int | None, keep_challenger: bool = False
) -> None:
    """Undo an attempt that did not commit: ``previous`` is champion again (or none was); a
    challenger whose canary promotion failed stays challenger (``keep_challenger``)."""
    client = registry.client()
    if previous is None:
        if alias_version(registry, CHAMPION) == attempted:
            client.delete_registered_model_alias(registry.model_name, CHAMPION)
    else:
        client.set_registered_model_alias(registry.model_name, CHAMPION, str(previous))
        _delete_tag(registry, previous, "archived")
        _delete_tag(registry, previous, "archived_at")
    if attempted != previous:
        _delete_tag(registry, attempted, "champion_since")
        if alias_version(registry, CHALLENGER) == attempted and not keep_challenger:
            client.delete_registered_model_alias(registry.model_name, CHALLENGER)


def _undo(registry: Registry, record: AuditRecord) -> None:
    """Put the aliases back as they were before ``record``'s attempt."""
    if record.decision in MOVES_CHAMPION:
        restore_champion(registry, record.version, record.previous_champion,
                         keep_challenger="canary" in record.gates)  # fmt: skip
    elif record.decision == MOVES_CHALLENGER:
        _set_challenger(registry, record.gates.get("replaces_challenger"))
    elif _drops_challenger(record):
        _set_challenger(registry, record.version)


def execute(registry: Registry, con: duckdb.DuckDBPyConnection, record: AuditRecord) -> None:
    """Carry out one decision under the journal protocol (see the module docstring).

    If anything fails after the journal row, the registry is put back as it was before the
    attempt and the attempt is audited as ``failed`` (or, when the audit store itself is
    failing, left pending for the reconciler); the error is raised again.
    """
    open_attempt(con, record)
    when = record.decided_at.isoformat()
    try:
        if record.decision in MOVES_CHAMPION:
            switch_champion(registry, record.version, record.previous_champion, when)
        elif record.decision == MOVES_CHALLENGER:
            _set_challenger(registry, record.version)
        elif _drops_challenger(record):
            _set_challenger(registry, None)
        close_attempt(con, record, "done", datetime.now(UTC))
    except BaseException as err:
        _undo(registry, record)
        failed = replace(
            record,
            decision="failed",
            reasons=[*record.reasons, f"attempt failed and was undone: {err!r}"],
            champion_after=record.previous_champion,
        )
        # If the audit store itself is down, the pending row tells the reconciler instead.
        with contextlib.suppress(Exception):
            close_attempt(con, failed, "done", datetime.now(UTC))
        raise


def reconcile(
    registry: Registry, con: duckdb.DuckDBPyConnection, run_id: str = ""
) -> list[AuditRecord]:
    """Bring registry and audit trail back into agreement; return the rows it wrote.

    Also ends as FAILED the MLflow runs a killed training process left RUNNING. Holds the
    champion lock, so it never mistakes a promotion in progress for an abandoned one.
    """
    with registry.champion_change():
        return _reconcile(registry, con, run_id)


def _reconcile(
    registry: Registry, con: duckdb.DuckDBPyConnection, run_id: str
) -> list[AuditRecord]:
    now = datetime.now(UTC)
    close_orphaned_runs(registry.client(), registry.experiment_id())
    written = []
    for record in pending_attempts(con):
        champion = alias_version(registry, CHAMPION)
        note = f"reconciled at {now.isoformat(timespec='seconds')} by run {run_id or '(cli)'}"
        if record.decision in MOVES_CHAMPION and champion == record.version:
            settle_tags(registry, record.version, record.previous_champion,
                        record.decided_at.isoformat())  # fmt: skip
            outcome = replace(
                record,
                reasons=[*record.reasons, f"{note}: the champion alias had moved to "
                         f"v{record.version} before the process stopped; the promotion stands"],
                champion_after=champion,
            )  # fmt: skip
        elif record.decision in MOVES_CHAMPION:
            if champion == record.previous_champion or champion is None:
                _undo(registry, record)
                champion = alias_version(registry, CHAMPION)
            outcome = replace(
                record,
                decision="failed",
                reasons=[*record.reasons, f"{note}: the process stopped before the champion "
                         f"alias switch; champion stays "
                         f"{'v' + str(champion) if champion else 'none'}"],
                champion_after=champion,
            )  # fmt: skip
        elif record.decision == MOVES_CHALLENGER:
            moved = alias_version(registry, CHALLENGER) == record.version
            outcome = replace(
                record,
                decision=record.decision if moved else "failed",
                reasons=[*record.reasons, f"{note}: " + (
                    f"the challenger alias had moved to v{record.version}; it stands" if moved
                    else "the process stopped before the challenger alias moved")],
                champion_after=champion,
            )  # fmt: skip
        else:
            if _drops_challenger(record):  # finishing a person's rejection is always safe
                _set_challenger(registry, None)
            outcome = replace(
                record,
                reasons=[*record.reasons, f"{note}: decision recorded after the process stopped"],
                champion_after=champion,
            )
        close_attempt(con, outcome, "reconciled", now)
        written.append(outcome)
    orphan = _unaudited_champion(registry, con, run_id, now)
    if orphan is not None:
        append(con, orphan)
        written.append(orphan)
    return written


def _unaudited_champion(
    registry: Registry, con: duckdb.DuckDBPyConnection, run_id: str, now: datetime
) -> AuditRecord | None:
    """A champion the audit trail never recorded (its alias moved outside the platform)."""
    champion = alias_version(registry, CHAMPION)
    recorded = last_champion_after(con)
    if champion is None or champion == recorded:
        return None
    version = registry.version(champion)
    missing = missing_lineage(registry, version)
    base = AuditRecord(
        decided_at=now, version=champion, decision="reconciled", trigger=RECONCILER,
        reasons=[], gates={"reconciler": True}, dagster_run_id=run_id,
        data_sha256=version.tags.get("data_sha256", ""), previous_champion=recorded,
        champion_after=champion, attempt_id=new_attempt_id(),
    )  # fmt: skip
    if missing:
        restore_champion(registry, champion, recorded)
        return replace(
            base,
            decision="rolled_back",
            version=recorded or champion,
            reasons=[f"champion v{champion} had no audit record and lacks lineage tag(s) "
                     f"{', '.join(missing)}: it may not be champion; "
                     f"{'v' + str(recorded) if recorded else 'no version'} is champion again"],
            previous_champion=champion,
            champion_after=recorded,
        )  # fmt: skip
    settle_tags(registry, champion, None, version.tags.get("champion_since") or now.isoformat())
    return replace(
        base,
        reasons=[f"champion v{champion} had no audit record (the alias was moved outside the "
                 f"platform); the audit trail last recorded "
                 f"{'v' + str(recorded) if recorded else 'no champion'}; recorded as found"],
    )  # fmt: skip


def class_counts(metrics: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Defaults and non-defaults of each evaluated set (test, oot), from the candidate's row."""
    counts = {}
    for set_name, per_model in metrics.items():
        values = per_model["candidate"]
        defaults = round(values.get("defaults", values["rows"] * values["default_rate"]))
        counts[set_name] = (defaults, round(values["rows"]) - defaults)
    return counts


def gated_decision(
    evaluation: EvaluationInfo,
    champion_now: int | None,
    lineage_missing: list[str],
    policy: GatePolicy,
) -> tuple[str, list[str], dict[str, Any]]:
    """The gates' verdict, refused outright when it would rest on a stale comparison.

    The evaluation scored the candidate against the champion of its own run; if the champion
    has changed since (a manual promotion, another retrain), its numbers say nothing about the
    version the candidate would now replace.
    """
    candidate = evaluation.candidate.version
    if champion_now != evaluation.champion_version:
        compared = f"v{evaluation.champion_version}" if evaluation.champion_version else "none"
        now = f"v{champion_now}" if champion_now else "none"
        return "rejected", [
            f"stale evaluation: v{candidate} was compared with champion {compared}, but the "
            f"champion is now {now}; re-run evaluation_report (or retrain_job) to compare with it"
        ], {"stale_evaluation": True, "evaluated_against": evaluation.champion_version,
            "champion_now": champion_now}  # fmt: skip
    if lineage_missing:
        return (
            "rejected",
            [
                f"v{candidate} lacks lineage tag(s) {', '.join(lineage_missing)}: it may not be "
                "champion"
            ],
            {"lineage_missing": lineage_missing},
        )
    test = evaluation.metrics["test"]
    decision = decide(
        test["candidate"],
        test["baseline"],
        test.get("champion"),
        policy,
        class_counts(evaluation.metrics),
        evaluation.comparisons.get("test"),
    )
    return ("promoted" if decision.promote else "rejected"), decision.reasons, decision.as_dict()


def reconcile_promotions(
    registry: Registry, con: duckdb.DuckDBPyConnection, run_id: str, warn: Callable[[str], None]
) -> None:
    """``reconcile``, telling ``warn`` about every decision it had to repair."""
    for repaired in reconcile(registry, con, run_id):
        warn(f"reconciled v{repaired.version}: {repaired.reasons[-1]}")


def promote_candidate(
    registry: Registry,
    con: duckdb.DuckDBPyConnection,
    evaluation: EvaluationInfo,
    policy: GatePolicy,
    attempt: Attempt,
) -> AuditRecord:
    """The automatic decision on an evaluated candidate: gates, then the journalled switch."""
    with registry.champion_change():
        reconcile_promotions(registry, con, attempt.run_id, attempt.warn)
        candidate = evaluation.candidate
        before = registry.champion()
        champion_now = int(before.version) if before else None
        lineage = missing_lineage(registry, registry.version(candidate.version))
        decision, reasons, gates = gated_decision(evaluation, champion_now, lineage, policy)
        if decision == "promoted" and champion_now is not None:
            decision, reasons, gates = _staged(registry, candidate.version, champion_now,
                                               reasons, gates)  # fmt: skip
        reasons = [attempt.note, *reasons] if attempt.note else reasons
        record = AuditRecord(
            decided_at=attempt.decided_at, version=candidate.version, decision=decision,
            trigger=attempt.trigger, reasons=reasons, gates=gates, dagster_run_id=attempt.run_id,
            data_sha256=candidate.data_sha256, previous_champion=champion_now,
            champion_after=candidate.version if decision == "promoted" else champion_now,
            attempt_id=new_attempt_id(),
        )  # fmt: skip
        execute(registry, con, record)
        return record


def _staged(
    registry: Registry, version: int, champion: int, reasons: list[str], gates: dict[str, Any]
) -> tuple[str, list[str], dict[str, Any]]:
    """Gates passed while a champion exists: the version becomes challenger and shadows the
    champion until the canary decides (replacing an earlier challenger, one at a time)."""
    replaced = current_challenger(registry)
    staged = [f"gates passed: v{version} shadows champion v{champion} until the canary decides"]
    if replaced is not None and replaced != version:
        staged.append(f"replaces challenger v{replaced}, which leaves the shadow")
    return MOVES_CHALLENGER, [*staged, *reasons], {**gates, "replaces_challenger": replaced}


def rejection_alert(record: AuditRecord) -> dict[str, Any]:
    """The alert for a rejected candidate: the champion stays; the failed gates, and every
    gate's reason with its intervals, tell the data scientist why."""
    gates = record.gates.get("gates", [])
    return {
        "kind": "candidate_rejected", "version": record.version, "trigger": record.trigger,
        "champion": record.champion_after, "dagster_run_id": record.dagster_run_id,
        "failed_gates": [g["name"] for g in gates if not g["passed"]] or list(record.gates),
        "reasons": record.reasons,
    }  # fmt: skip


class Refused(Exception):
    """A manual promotion or rollback the safeguards refused (it is audited as rejected)."""


def set_champion_by_hand(
    registry: Registry,
    con: duckdb.DuckDBPyConnection,
    version: int,
    rollback: bool,
    reason: str,
    attempt: Attempt,
) -> AuditRecord:
    """A person's decision: no gates, but the target must carry its lineage, hash to its
    recorded SHA-256 and have been evaluated (``target_problems``); a refusal is audited and
    raised as ``Refused``."""
    with registry.champion_change():
        reconcile_promotions(registry, con, attempt.run_id, attempt.warn)
        before = registry.champion()
        previous = int(before.version) if before else None
        target, problems = target_problems(registry, version)
        record = AuditRecord(
            decided_at=attempt.decided_at, version=version,
            decision="rolled_back" if rollback else "promoted", trigger=attempt.trigger,
            reasons=[reason],
            gates={"manual": True, "action": "rollback" if rollback else "promote"},
            dagster_run_id=attempt.run_id,
            data_sha256=target.tags.get("data_sha256", "") if target else "",
            previous_champion=previous, champion_after=version, attempt_id=new_attempt_id(),
        )  # fmt: skip
        if problems:
            refused = replace(
                record, decision="rejected", champion_after=previous,
                reasons=[reason, *(f"refused: {p}" for p in problems)],
            )  # fmt: skip
            append(con, refused)
            raise Refused("; ".join(problems))
        execute(registry, con, record)
        return record
