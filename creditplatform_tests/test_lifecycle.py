"""The model lifecycle end to end on a real Dagster instance, real DuckDB and real MLflow (SQLite
in a temp dir): first champion, a worse challenger rejected, a better one promoted, a manual
rollback, reproducible retraining, scoring with the champion, and a tampered artifact refused.
"""

import json
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pytest

from creditplatform.definitions import build_definitions
from creditplatform.features.store import STORE
from creditplatform.ml.registry import logged_model_dir
from creditplatform.settings import load_settings
from creditplatform.synthetic.generate import GenerateOptions, generate_history
from creditplatform.warehouse.audit import history

MONTHS = ["2024-01", "2024-02", "2024-03", "2024-04"]
WEAK = {
    "ops": {
        "candidate_model": {"config": {"max_iter": 10, "max_leaf_nodes": 3, "learning_rate": 0.1}}
    }
}


class Platform:
    def __init__(self, data_dir: Path):
        self.settings = load_settings()
        assert self.settings.data_dir == data_dir.resolve()
        self.defs = build_definitions(self.settings)
        self.instance = dg.DagsterInstance.ephemeral()
        self.registry = self.defs.resources["mlflow_tracking"].registry()

    def run(self, job: str, **kwargs) -> dg.ExecuteInProcessResult:
        return self.defs.resolve_job_def(job).execute_in_process(
            instance=self.instance, raise_on_error=False, **kwargs
        )

    def audit(self) -> list[dict]:
        with duckdb.connect(str(self.settings.warehouse_path)) as con:
            return history(con)

    def champion(self) -> int | None:
        found = self.registry.champion()
        return int(found.version) if found else None

    def shuffle_train_labels(self, split_set: str) -> dict[int, int]:
        """Permute TARGET among the train rows; return the original labels to restore."""
        with duckdb.connect(str(self.settings.warehouse_path)) as con:
            rows = con.execute(
                f"SELECT f.SK_ID_CURR, f.TARGET FROM {STORE} f JOIN ml.training_splits s "
                "USING (month, SK_ID_CURR) WHERE s.split_set = ? AND s.split IN ('train', 'valid')",
                [split_set],
            ).df()
            original = dict(zip(rows["SK_ID_CURR"], rows["TARGET"], strict=True))
            rows["TARGET"] = np.random.default_rng(0).permutation(rows["TARGET"].to_numpy())
            self._set_labels(con, rows)
        return original

    def restore_labels(self, original: dict[int, int]) -> None:
        import pandas as pd

        frame = pd.DataFrame({"SK_ID_CURR": list(original), "TARGET": list(original.values())})
        with duckdb.connect(str(self.settings.warehouse_path)) as con:
            self._set_labels(con, frame)

    @staticmethod
    def _set_labels(con, frame) -> None:
        con.register("labels", frame)
        con.execute(
            f"UPDATE {STORE} SET TARGET = labels.TARGET FROM labels "
            f"WHERE {STORE}.SK_ID_CURR = labels.SK_ID_CURR"
        )
        con.unregister("labels")


def _evaluation(result: dg.ExecuteInProcessResult):
    return result.output_for_node("evaluation_report")


@pytest.mark.slow
def test_promotion_lifecycle(_isolated_data_dir: Path, monkeypatch: pytest.MonkeyPatch):
    data = _isolated_data_dir
    monkeypatch.setenv("CREDITPLATFORM_MIN_TRAINING_MONTHS", "4")  # four months of history
    generate_history(data, GenerateOptions(months=4, applications_per_month=8000, seed=21))
    platform = Platform(data)
    for month in MONTHS:
        assert platform.run("ingest_job", partition_key=month).success, month

    # No champion yet: scoring fails and says why.
    scored = platform.run("score_job", partition_key="2024-04")
    assert not scored.success
    message = scored.failure_data_for_node("batch_scores").user_failure_data.description
    assert "no 'champion' alias" in message

    # 1. The first model (deliberately small) becomes champion: the baseline gate alone decides.
    first = platform.run("retrain_job", run_config=WEAK)
    assert first.success
    assert first.output_for_node("registry_promotion")["decision"] == "promoted"
    assert platform.champion() == 1
    audit = platform.audit()
    assert [(a["version"], a["decision"]) for a in audit] == [(1, "promoted")]
    assert audit[0]["trigger"] == "manual" and len(audit[0]["data_sha256"]) == 64
    version = platform.registry.version(1)
    for tag in ("data_sha256", "training_rows", "label_rate", "feature_schema_version",
                "git_commit", "dagster_run_id", "trigger", "artifact_sha256"):  # fmt: skip
        assert version.tags.get(tag), tag
    assert version.tags["dagster_run_id"] == first.run_id
    report_dir = Path(_evaluation(first).report_dir)
    assert (report_dir / "report.html").exists() and (report_dir / "calibration.png").exists()
    assert json.loads((report_dir / "report.json").read_text())["metrics"]["test"]["candidate"]

    # 2. A challenger trained on shuffled labels is rejected; the champion alias does not move.
    split_set = first.output_for_node("training_splits").split_set
    original = platform.shuffle_train_labels(split_set)
    worse = platform.run("retrain_job")
    platform.restore_labels(original)
    assert worse.success
    decision = worse.output_for_node("registry_promotion")
    assert decision["decision"] == "rejected" and decision["version"] == 2
    assert any("< champion" in r for r in decision["reasons"])
    assert platform.champion() == 1
    assert [a["decision"] for a in platform.audit()] == ["promoted", "rejected"]

    # 3. A better challenger (full-size model, same data) is promoted; v1 is archived.
    better = platform.run("retrain_job")
    assert better.success
    evaluation = _evaluation(better)
    assert evaluation.champion_version == 1  # scored against the champion in the same run
    test = evaluation.metrics["test"]
    assert test["candidate"]["roc_auc"] > test["champion"]["roc_auc"]
    # Gates passed with a champion in place: challenger first, shadow-scored on a month, and
    # the canary judges how differently it decides; it holds v3 (a stronger model moves more
    # decisions than the limits allow), and a person approves it.
    assert better.output_for_node("registry_promotion")["decision"] == "challenger"
    assert platform.champion() == 1
    assert platform.run("score_job", partition_key="2024-04").success
    rollout = platform.run("rollout_job")
    assert rollout.success
    canary = rollout.asset_materializations_for_node("champion_rollout")[0].metadata
    assert (canary["status"].value, canary["shadow_applicants"].value) == ("held", 8000)
    approve = platform.run(
        "manual_promotion_job",
        run_config={"ops": {"set_champion": {"config": {
            "action": "promote", "version": 3, "reason": "canary figures reviewed: approved"}}}},
    )  # fmt: skip
    assert approve.success
    assert platform.champion() == 3
    assert platform.registry.version(1).tags.get("archived") == "true"
    assert [a["decision"] for a in platform.audit()] == [
        "promoted", "rejected", "challenger", "held", "promoted"]  # fmt: skip

    # 4. Manual rollback to v1, with its reason in the audit trail.
    rollback = platform.run(
        "manual_promotion_job",
        run_config={"ops": {"set_champion": {"config": {
            "action": "rollback", "version": 1, "reason": "v3 mis-scores a new product"}}}},
    )  # fmt: skip
    assert rollback.success
    assert platform.champion() == 1
    last = platform.audit()[-1]
    assert (last["decision"], last["version"], last["previous_champion"]) == ("rolled_back", 1, 3)
    assert json.loads(last["reasons"]) == ["v3 mis-scores a new product"]
    assert len(platform.audit()) == 6

    # 5. Training again on the same data gives the same data hash and the same metrics.
    retrain_without_promotion = ("training_splits", "candidate_model", "evaluation_report")
    again = platform.run(
        "retrain_job", asset_selection=[dg.AssetKey(k) for k in retrain_without_promotion]
    )
    assert again.success
    repeat = _evaluation(again)
    assert repeat.candidate.data_sha256 == evaluation.candidate.data_sha256
    for metric, value in evaluation.metrics["test"]["candidate"].items():
        assert repeat.metrics["test"]["candidate"][metric] == pytest.approx(value, abs=1e-12)

    # 6. The champion scores a month; every row carries its version.
    scored = platform.run("score_job", partition_key="2024-04")
    assert scored.success
    with duckdb.connect(str(platform.settings.warehouse_path)) as con:
        versions = con.execute(
            "SELECT DISTINCT model_version, count(*) FROM scores.batch_scores GROUP BY 1"
        ).fetchall()
    assert versions == [(1, 8000)]

    # 6b. Drift: the champion's reference scores are computed once, then served from the
    # cache; the cached run reports exactly the numbers of the computing run.
    job = platform.defs.resolve_implicit_global_asset_job_def()
    drift = [
        job.execute_in_process(
            instance=platform.instance, asset_selection=[dg.AssetKey("drift_report")],
            partition_key="2024-04",
        )
        for _ in range(2)
    ]  # fmt: skip
    first_p, cached_p = (
        r.get_asset_materialization_events()[0].materialization.metadata["prediction_ks_pvalue"]
        for r in drift
    )
    assert first_p == cached_p
    # The reference is the champion's train rows of its newest in-time month (2024-03 of a
    # 2024-01..04 window whose out-of-time month is 2024-04).
    champion = platform.registry.champion()
    with duckdb.connect(str(platform.settings.warehouse_path)) as con:
        cached = con.execute(
            "SELECT model_version, count(*) FROM monitoring.reference_scores GROUP BY 1"
        ).fetchall()
        reference_rows = con.execute(
            "SELECT count(*) FROM ml.training_splits WHERE split_set = ? AND split = 'train' "
            "AND month = '2024-03'",
            [champion.tags["data_sha256"]],
        ).fetchone()[0]
    assert champion.tags["window"].split(",")[-2:] == ["2024-03", "2024-04"]
    assert cached == [(1, reference_rows)] and 0 < reference_rows < int(
        champion.tags["training_rows"]
    )

    # 7. Bytes of the champion's artifact changed after registration: scoring refuses it.
    champion = platform.registry.champion()
    local = logged_model_dir(champion.source.removeprefix("models:/"))
    pickled = next(p for p in local.rglob("model.*") if p.suffix in {".pkl", ".skops"})
    pickled.write_bytes(pickled.read_bytes() + b"\0")
    tampered = platform.run("score_job", partition_key="2024-04")
    assert not tampered.success
    message = tampered.failure_data_for_node("batch_scores").user_failure_data.description
    assert "does not match" in message and "refusing to load" in message
