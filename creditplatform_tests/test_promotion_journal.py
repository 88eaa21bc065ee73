"""The promotion journal and reconciler on a real MLflow registry (SQLite in a temp dir) and a
real DuckDB audit trail (the crash repairs also on PostgreSQL-backed MLflow and a DuckLake
audit trail): compensation when the audit write fails, repair of pending attempts,
champions moved outside the platform, the manual target checks and the stale-evaluation
refusal. Models are tiny real scikit-learn estimators, registered the way the platform does.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from creditplatform.ml.gates import GatePolicy
from creditplatform.ml.promotion import (
    execute,
    gated_decision,
    new_attempt_id,
    reconcile,
    switch_champion,
)
from creditplatform.ml.records import CandidateInfo, EvaluationInfo
from creditplatform.ml.registry import (
    ArtifactTampered,
    Registry,
    artifact_sha256,
    load_verified_baseline,
    log_pd_model,
    log_sklearn_model,
    logged_model_dir,
    register,
    target_problems,
)
from creditplatform.settings import Settings, load_settings
from creditplatform.warehouse.audit import AuditRecord, ensure_audit, history, pending_attempts

LINEAGE = {
    "data_sha256": "d" * 64, "training_rows": "40", "label_rate": "0.5",
    "feature_schema_version": "1", "git_commit": "test", "dagster_run_id": "run",
    "trigger": "manual",
}  # fmt: skip


@pytest.fixture(params=["local"])
def backend(request: pytest.FixtureRequest) -> str:
    """Which profile's stores the journal runs on; the crash-repair tests also run on the
    production profile's PostgreSQL-backed MLflow and DuckLake audit trail."""
    return request.param


@pytest.fixture
def settings(backend: str, request: pytest.FixtureRequest, _isolated_data_dir: Path) -> Settings:
    if backend == "production":
        return request.getfixturevalue("production")
    return load_settings()


@pytest.fixture
def registry(settings: Settings) -> Registry:
    base = Registry.for_settings(settings)
    return dataclasses.replace(base, experiment="journal-test", model_name="journal-pd")


@pytest.fixture
def con(settings: Settings):
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with settings.warehouse.connect() as connection:
        ensure_audit(connection)
        yield connection


BOTH_PROFILES = pytest.mark.parametrize("backend", ["local", "production"], indirect=True)


def _model(registry: Registry, seed: int, tags: dict | None = None, evaluated: bool = True):
    """Fit, log and register a tiny model (and a baseline) the way candidate_model does: two
    of the contract's features, imputed, so it scores the reference applicant it is logged with."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"EXT_SOURCE_2": rng.normal(size=40), "AMT_CREDIT": rng.normal(size=40)})
    y = (x["EXT_SOURCE_2"] + rng.normal(size=40) > 0).astype(int).to_numpy()
    pick = ColumnTransformer([("numbers", SimpleImputer(), list(x.columns))])
    model = make_pipeline(pick, LogisticRegression()).fit(x, y)
    with mlflow.start_run(run_name=f"m{seed}", experiment_id=registry.experiment_id()) as run:
        info = log_pd_model(model, "model", {})
        base = log_sklearn_model(model, "baseline", {})
        if evaluated:
            mlflow.log_metric("test_roc_auc", 0.7)
        extra = {"baseline_uri": base.model_uri, "baseline_sha256": artifact_sha256(base.model_uri)}
        version = register(registry, info.model_uri, {**(tags or LINEAGE), **extra})
    assert run.info.run_id
    return int(version.version)


def _record(version: int, decision: str, previous: int | None) -> AuditRecord:
    return AuditRecord(
        decided_at=datetime.now(UTC), version=version, decision=decision, trigger="manual",
        reasons=["test"], gates={}, dagster_run_id="run", data_sha256="d" * 64,
        previous_champion=previous, champion_after=version if decision == "promoted" else previous,
        attempt_id=new_attempt_id(),
    )  # fmt: skip


def _champion(registry: Registry) -> int | None:
    found = registry.champion()
    return int(found.version) if found else None


def _tags(registry: Registry, version: int) -> dict:
    return registry.version(version).tags


def _refuse_promoted_rows(con) -> None:
    """The audit store refuses a 'promoted' row (a real constraint, as a full disk would)."""
    con.execute("DROP TABLE audit.promotions")
    con.execute(
        "CREATE TABLE audit.promotions (decided_at TIMESTAMPTZ, version INTEGER, decision VARCHAR "
        "CHECK (decision <> 'promoted'), trigger VARCHAR, reasons JSON, gates JSON, "
        "dagster_run_id VARCHAR, data_sha256 VARCHAR, previous_champion INTEGER, "
        "champion_after INTEGER, attempt_id VARCHAR)"
    )


@BOTH_PROFILES
def test_promotion_is_journaled_then_audited(registry, con):
    v1 = _model(registry, 1)
    execute(registry, con, _record(v1, "promoted", None))
    v2 = _model(registry, 2)
    execute(registry, con, _record(v2, "promoted", v1))
    assert _champion(registry) == v2
    assert _tags(registry, v1)["archived"] == "true"
    assert "archived" not in _tags(registry, v2) and _tags(registry, v2)["champion_since"]
    assert [r["decision"] for r in history(con)] == ["promoted", "promoted"]
    states = con.execute("SELECT state FROM audit.promotion_journal").fetchall()
    assert states == [("done",), ("done",)]


def test_audit_failure_after_switch_puts_champion_and_tags_back(registry, con):
    v1 = _model(registry, 1)
    execute(registry, con, _record(v1, "promoted", None))
    v2 = _model(registry, 2)
    _refuse_promoted_rows(con)
    with pytest.raises(duckdb.ConstraintException):
        execute(registry, con, _record(v2, "promoted", v1))
    assert _champion(registry) == v1
    assert "archived" not in _tags(registry, v1)
    assert "champion_since" not in _tags(registry, v2)
    rows = history(con)
    outcome = [(r["version"], r["decision"], r["champion_after"]) for r in rows]
    assert outcome == [(v2, "failed", v1)]
    assert "undone" in json.loads(rows[0]["reasons"])[-1]
    assert pending_attempts(con) == []


def test_first_champion_is_removed_when_its_audit_fails(registry, con):
    v1 = _model(registry, 1)
    _refuse_promoted_rows(con)
    with pytest.raises(duckdb.ConstraintException):
        execute(registry, con, _record(v1, "promoted", None))
    assert _champion(registry) is None
    assert [r["decision"] for r in history(con)] == ["failed"]


@BOTH_PROFILES
def test_reconcile_completes_a_promotion_whose_process_died_after_the_switch(registry, con):
    v1 = _model(registry, 1)
    execute(registry, con, _record(v1, "promoted", None))
    v2 = _model(registry, 2)
    crashed = _record(v2, "promoted", v1)
    from creditplatform.warehouse.audit import open_attempt

    open_attempt(con, crashed)
    registry.client().set_registered_model_alias(registry.model_name, "champion", str(v2))
    # (the process died here: tags not settled, no audit row)
    written = reconcile(registry, con, "reconciler-run")
    assert [(w.version, w.decision) for w in written] == [(v2, "promoted")]
    assert "the promotion stands" in written[0].reasons[-1]
    assert _champion(registry) == v2
    assert _tags(registry, v1)["archived"] == "true" and "archived" not in _tags(registry, v2)
    assert reconcile(registry, con) == []  # idempotent


@BOTH_PROFILES
def test_reconcile_fails_an_attempt_that_died_before_the_switch(registry, con):
    v1 = _model(registry, 1)
    execute(registry, con, _record(v1, "promoted", None))
    v2 = _model(registry, 2)
    from creditplatform.warehouse.audit import open_attempt

    open_attempt(con, _record(v2, "promoted", v1))
    registry.client().set_registered_model_alias(registry.model_name, "challenger", str(v2))
    written = reconcile(registry, con)
    assert [(w.version, w.decision, w.champion_after) for w in written] == [(v2, "failed", v1)]
    assert _champion(registry) == v1
    with pytest.raises(mlflow.exceptions.MlflowException):
        registry.client().get_model_version_by_alias(registry.model_name, "challenger")


@BOTH_PROFILES
def test_reconcile_records_a_lost_rejection(registry, con):
    v1 = _model(registry, 1)
    execute(registry, con, _record(v1, "promoted", None))
    v2 = _model(registry, 2)
    from creditplatform.warehouse.audit import open_attempt

    open_attempt(con, _record(v2, "rejected", v1))
    written = reconcile(registry, con)
    assert [(w.version, w.decision, w.champion_after) for w in written] == [(v2, "rejected", v1)]


@BOTH_PROFILES
def test_champion_moved_outside_the_platform_is_recorded_or_rolled_back(registry, con):
    v1 = _model(registry, 1)
    execute(registry, con, _record(v1, "promoted", None))
    v2 = _model(registry, 2)
    # A plain MLflow client moves the alias: recorded as found, with the audit's last champion.
    registry.client().set_registered_model_alias(registry.model_name, "champion", str(v2))
    (found,) = reconcile(registry, con)
    assert (found.decision, found.version, found.previous_champion) == ("reconciled", v2, v1)
    # A version without lineage tags may never be champion: the audited champion comes back.
    v3 = _model(registry, 3, tags={"trigger": "manual"})
    registry.client().set_registered_model_alias(registry.model_name, "champion", str(v3))
    (undone,) = reconcile(registry, con)
    assert (undone.decision, undone.champion_after) == ("rolled_back", v2)
    assert "lacks lineage" in undone.reasons[0]
    assert _champion(registry) == v2


def test_manual_target_checks(registry):
    good = _model(registry, 1)
    assert target_problems(registry, good)[1] == []
    assert "does not exist" in target_problems(registry, 99)[1][0]
    untagged = _model(registry, 2, tags={"trigger": "manual"})
    assert any("'artifact_sha256'" not in p and "lineage tag" in p
               for p in target_problems(registry, untagged)[1])  # fmt: skip
    unevaluated = _model(registry, 3, evaluated=False)
    assert any("no evaluation" in p for p in target_problems(registry, unevaluated)[1])
    version = registry.version(good)
    files = logged_model_dir(version.source.removeprefix("models:/"))
    pickled = next(p for p in files.rglob("model.*") if p.suffix in {".pkl", ".skops"})
    pickled.write_bytes(pickled.read_bytes() + b"\0")
    assert any("does not match" in p for p in target_problems(registry, good)[1])


def test_an_unknown_commit_is_lineage_missing_only_where_commits_are_required(registry, con):
    """An image built without its commit stamp trains versions tagged ``git_commit=unknown``:
    the production profile (``require_commit``) refuses them as champion, by hand or found
    moved there; the local profile (a checkout without git) does not."""
    unknown = _model(registry, 1, tags={**LINEAGE, "git_commit": "unknown"})
    assert target_problems(registry, unknown)[1] == []
    strict = dataclasses.replace(registry, require_commit=True)
    (problem,) = target_problems(strict, unknown)[1]
    assert "git_commit (unknown: build the image with GIT_COMMIT)" in problem
    assert target_problems(strict, _model(registry, 2))[1] == []
    strict.client().set_registered_model_alias(strict.model_name, "champion", str(unknown))
    (undone,) = reconcile(strict, con)
    assert undone.decision == "rolled_back" and "git_commit (unknown" in undone.reasons[0]


def test_tampered_baseline_is_refused(registry):
    version = registry.version(_model(registry, 1))
    assert load_verified_baseline(registry, version) is not None
    files = logged_model_dir(version.tags["baseline_uri"].removeprefix("models:/"))
    pickled = next(p for p in files.rglob("model.*") if p.suffix in {".pkl", ".skops"})
    pickled.write_bytes(pickled.read_bytes() + b"\0")
    with pytest.raises(ArtifactTampered, match="baseline"):
        load_verified_baseline(registry, version)


def test_registration_carries_every_lineage_tag_at_creation(registry):
    version = registry.version(_model(registry, 1))
    assert version.status == "READY"
    assert version.tags["artifact_sha256"] == artifact_sha256(version.source)


def test_stale_evaluation_is_refused():
    candidate = CandidateInfo(5, "r", "models:/x/5", "b", "d", 10, 0.1, 1, ["2024-01"],
                              "2024-02", "manual")  # fmt: skip
    counts = {"rows": 1000.0, "defaults": 80.0, "default_rate": 0.08}
    metrics = {"test": {
        "candidate": {"roc_auc": 0.8, "brier": 0.1, "ece": 0.01, **counts},
        "baseline": {"roc_auc": 0.6, "brier": 0.1, "ece": 0.01, **counts},
        "champion": {"roc_auc": 0.7, "brier": 0.1, "ece": 0.01, **counts},
    }}  # fmt: skip
    evaluation = EvaluationInfo(candidate, 3, metrics, "")
    policy = GatePolicy(0.1, 50)
    decision, reasons, gates = gated_decision(evaluation, 4, [], policy)
    assert decision == "rejected" and "stale evaluation" in reasons[0]
    assert gates["champion_now"] == 4
    assert gated_decision(evaluation, 3, [], policy)[0] == "promoted"
    assert gated_decision(evaluation, 3, ["artifact_sha256"], policy)[0] == "rejected"
    fresh = dataclasses.replace(evaluation, champion_version=None)
    assert gated_decision(fresh, None, [], policy)[0] == "promoted"


def test_first_champion_is_never_promoted_on_too_few_defaults():
    candidate = CandidateInfo(1, "r", "models:/x/1", "b", "d", 10, 0.1, 1, ["2024-01"],
                              "2024-02", "manual")  # fmt: skip
    few = {"rows": 86.0, "defaults": 3.0, "default_rate": 3 / 86}
    metrics = {
        "test": {"candidate": {"roc_auc": 0.93, "brier": 0.03, "ece": 0.01, **few},
                 "baseline": {"roc_auc": 0.90, "brier": 0.03, "ece": 0.01, **few}},
        "oot": {"candidate": {"roc_auc": 0.9, "brier": 0.03, "ece": 0.01, "rows": 900.0,
                              "defaults": 70.0, "default_rate": 70 / 900}},
    }  # fmt: skip
    decision, reasons, gates = gated_decision(
        EvaluationInfo(candidate, None, metrics, ""), None, [], GatePolicy(0.1, 50)
    )
    assert decision == "rejected"
    assert reasons[0] == "insufficient evidence: 3 defaults in test (needs 50)"
    assert [g["name"] for g in gates["gates"] if not g["passed"]] == ["min_defaults"]


def test_switch_is_the_commit_point(registry, con):
    """Between the alias switch and the tags the champion is already the new version."""
    v1 = _model(registry, 1)
    switch_champion(registry, v1, None, datetime.now(UTC).isoformat())
    assert _champion(registry) == v1


def test_manual_promotion_of_an_unknown_version_is_refused_and_audited(_isolated_data_dir):
    import dagster as dg

    from creditplatform.definitions import build_definitions
    from creditplatform.settings import load_settings

    settings = load_settings()
    defs = build_definitions(settings)
    config = {"action": "promote", "version": 7, "reason": "by hand, for the test"}
    result = defs.resolve_job_def("manual_promotion_job").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
        run_config={"ops": {"set_champion": {"config": config}}},
    )  # fmt: skip
    assert not result.success
    failure = result.failure_data_for_node("set_champion").user_failure_data.description
    assert "refused" in failure and "v7 does not exist" in failure
    with duckdb.connect(str(settings.warehouse_path)) as con:
        (row,) = history(con)
    assert (row["version"], row["decision"], row["trigger"]) == (7, "rejected", "manual")
    assert json.loads(row["reasons"])[1].startswith("refused:")
