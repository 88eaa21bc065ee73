"""``drift_report``: a month's features and champion scores against the champion's drift
reference (its training rows of its newest in-time month, ``drift_reference_months``).

Our PSI/KS on every row decide; the page (``ml/drift_page.py``) leads with that verdict and
Evidently draws the same numbers below it. The numbers the drift sensor acts on are the ones in
this asset's metadata and in ``monitoring.drift``. The ML libraries are imported in the asset
body, not at load (see ``retrain``).
"""

import json
import time
from datetime import UTC, datetime

import dagster as dg
import duckdb
import numpy as np
import pandas as pd

from creditplatform import clock
from creditplatform.defs import metadata as md
from creditplatform.defs.automation_conditions import follows_its_month
from creditplatform.defs.partitions import monthly_partitions
from creditplatform.defs.resources import MONTHLY_RETRY, WAREHOUSE_POOL, MlflowResource, Warehouse
from creditplatform.features.store import STORE
from creditplatform.ml.lineage import frame_sha256
from creditplatform.ml.retrain_rules import DriftEvidence, RetrainRules, evaluate, should_retrain
from creditplatform.ml.training_data import load_split
from creditplatform.settings import load_settings
from creditplatform.warehouse.ingest import warehouse_tables
from creditplatform.warehouse.month_data import DRIFT_TABLE

REFERENCE_SCORES = "monitoring.reference_scores"


def _hours_since_drift_retrain(con: duckdb.DuckDBPyConnection, now: datetime) -> float | None:
    """Hours by the platform's clock since the last drift-triggered promotion decision."""
    if "audit.promotions" not in warehouse_tables(con):
        return None
    last = con.execute(
        "SELECT max(decided_at) FROM audit.promotions WHERE trigger = 'drift'"
    ).fetchone()[0]
    return None if last is None else (now - last).total_seconds() / 3600


def cached_reference_scores(
    con: duckdb.DuckDBPyConnection, version: int, data_sha256: str
) -> np.ndarray | None:
    """The champion's scores on its own training rows, if a previous month stored them.

    They depend only on the model and its training rows, so they are computed once per
    champion (4 s at 200k rows), not once per month.
    """
    if REFERENCE_SCORES not in warehouse_tables(con):
        return None
    scores = con.execute(
        f"SELECT pd FROM {REFERENCE_SCORES} WHERE model_version = ? AND data_sha256 = ? "
        "ORDER BY position",
        [version, data_sha256],
    ).fetchnumpy()["pd"]
    return scores if len(scores) else None


def store_reference_scores(
    con: duckdb.DuckDBPyConnection, version: int, data_sha256: str, scores: np.ndarray
) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS monitoring")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {REFERENCE_SCORES} (model_version INTEGER, "
        "data_sha256 VARCHAR, position INTEGER, pd DOUBLE)"
    )
    rows = pd.DataFrame({"position": np.arange(len(scores)), "pd": scores})
    con.register("reference_rows", rows)
    con.execute(
        f"DELETE FROM {REFERENCE_SCORES} WHERE model_version = ? AND data_sha256 = ?",
        [version, data_sha256],
    )
    con.execute(
        f"INSERT INTO {REFERENCE_SCORES} SELECT ?, ?, position, pd FROM reference_rows",
        [version, data_sha256],
    )


def record_drift(con: duckdb.DuckDBPyConnection, row: dict) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS monitoring")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {DRIFT_TABLE} (month VARCHAR, computed_at TIMESTAMPTZ, "
        "champion_version INTEGER, max_psi DOUBLE, max_psi_feature VARCHAR, drifted_features JSON, "
        "prediction_ks_pvalue DOUBLE, new_labelled_rows BIGINT, month_auc DOUBLE, "
        "auc_relative_drop DOUBLE, retrain_evidence JSON)"
    )
    con.execute(f"DELETE FROM {DRIFT_TABLE} WHERE month = ?", [row["month"]])
    con.execute(
        f"INSERT INTO {DRIFT_TABLE} VALUES ({', '.join('?' * len(row))})", list(row.values())
    )


@dg.asset(
    group_name="monitoring",
    partitions_def=monthly_partitions,
    automation_condition=follows_its_month(),
    deps=["feature_store", "registry_promotion"],
    check_specs=[
        dg.AssetCheckSpec(
            "drift_within_limits",
            asset="drift_report",
            description="No feature at or above the PSI threshold (drift_psi_threshold) and no "
            "prediction drift (champion scores' KS p below drift_prediction_pvalue).",
        )
    ],
    pool=WAREHOUSE_POOL,
    retry_policy=MONTHLY_RETRY,
    kinds={"evidently", "duckdb"},
    description="PSI/KS per feature and prediction drift vs the champion's drift reference (its "
    "newest training month); the month's AUC under the champion once its outcomes are in. "
    "Verdict-first HTML page (Evidently views of our numbers) + JSON under reports/drift/<month>/.",
)
def drift_report(
    context: dg.AssetExecutionContext, warehouse: Warehouse, mlflow_tracking: MlflowResource
):
    from creditplatform.ml import drift_page as page
    from creditplatform.ml.drift import summarize_drift
    from creditplatform.ml.metrics import classification_metrics
    from creditplatform.ml.model import predict_pd
    from creditplatform.ml.registry import load_verified
    from creditplatform.months import reference_months

    month = context.partition_key
    settings = load_settings()
    registry = mlflow_tracking.registry()
    champion = registry.champion()
    if champion is None:
        yield dg.AssetCheckResult(passed=True, description="no champion yet: nothing to compare")
        yield dg.MaterializeResult(metadata={"status": "no champion yet: nothing to compare"})
        return
    started = time.perf_counter()
    model = load_verified(registry, champion)
    window = champion.tags.get("window", "").split(",")
    version = int(champion.version)
    with warehouse.get_connection() as con:
        reference = load_split(con, champion.tags["data_sha256"], "train")
        months = reference_months(window, settings.drift_reference_months)
        reference = reference[reference["month"].isin(months)].reset_index(drop=True)
        # Keyed by the rows as they are now, so a rebuilt feature month can never be served
        # stale scores.
        data_sha256 = frame_sha256(reference)
        ref_scores = cached_reference_scores(con, version, data_sha256)
        current = con.execute(f"SELECT * FROM {STORE} WHERE month = ?", [month]).df()
        new_labelled = con.execute(
            f"SELECT count(TARGET) FROM {STORE} WHERE month > ? AND month <= ?",
            [max(window), month],
        ).fetchone()[0]
        now = clock.now(settings.data_dir)
        since_retrain = _hours_since_drift_retrain(con, now)
    if current.empty:
        raise dg.Failure(
            f"drift_report {month}: no features for this month in {STORE}", allow_retries=False
        )
    fresh_reference = ref_scores is None
    if fresh_reference:
        ref_scores = predict_pd(model, reference)
    cur_scores = predict_pd(model, current)
    summary = summarize_drift(
        reference, current, ref_scores, cur_scores, settings.drift_psi_threshold
    )
    drifts, drifted, prediction_p = summary.features, summary.drifted, summary.prediction_ks_pvalue
    labelled = current["TARGET"].notna()
    month_auc = auc_drop = None
    run = registry.client().get_run(champion.run_id)
    champion_auc = run.data.metrics.get("test_roc_auc")
    if (
        labelled.mean() >= settings.matured_label_share
        and current.loc[labelled, "TARGET"].nunique() == 2
    ):
        scored = classification_metrics(
            current.loc[labelled, "TARGET"].to_numpy(int), cur_scores[labelled.to_numpy()],
            settings.policy_threshold, settings.precision_at_k_share,
        )  # fmt: skip
        month_auc = scored["roc_auc"]
        if champion_auc:
            auc_drop = (champion_auc - month_auc) / champion_auc
    stats_seconds = time.perf_counter() - started
    out_dir = settings.reports_dir / "drift" / month
    out_dir.mkdir(parents=True, exist_ok=True)
    evidence = {
        "max_psi": drifts[0].psi,
        "max_psi_feature": drifts[0].feature,
        "prediction_ks_pvalue": prediction_p,
        "new_labelled_rows": int(new_labelled),
    }
    conditions = evaluate(
        DriftEvidence(**evidence, hours_since_last_retrain=since_retrain),
        RetrainRules.from_settings(settings),
    )
    verdict = page.Verdict(
        month=month, champion_version=version, reference_months=months,
        reference_rows=len(reference), current_rows=len(current), max_psi=drifts[0].psi,
        max_psi_feature=drifts[0].feature, drifted_features=drifted,
        psi_threshold=settings.drift_psi_threshold, prediction_ks_pvalue=prediction_p,
        prediction_pvalue=settings.drift_prediction_pvalue,
        retrain=should_retrain(conditions), retrain_reasons=[c.message for c in conditions],
        features_total=len(drifts), month_auc=month_auc, auc_relative_drop=auc_drop,
    )  # fmt: skip
    shown, html_rows = page.write_drift_page(
        out_dir / "report.html", verdict, drifts, (reference, ref_scores), (current, cur_scores)
    )
    payload = {
        "month": month,
        "champion_version": int(champion.version),
        "reference_rows": len(reference),
        "current_rows": len(current),
        "html_sample_rows": html_rows,
        "html_features": shown,
        "drifted_features": drifted,
        "month_auc": month_auc,
        "champion_test_auc": champion_auc,
        "auc_relative_drop": auc_drop,
        **evidence,
        "features": [d.__dict__ | {"band": d.band} for d in drifts],
    }
    (out_dir / "drift.json").write_text(json.dumps(payload, indent=2))
    with warehouse.get_connection() as con:
        if fresh_reference:
            store_reference_scores(con, version, data_sha256, ref_scores)
        record_drift(
            con,
            {
                "month": month,
                "computed_at": datetime.now(UTC),
                "champion_version": int(champion.version),
                "max_psi": drifts[0].psi,
                "max_psi_feature": drifts[0].feature,
                "drifted_features": json.dumps(drifted),
                "prediction_ks_pvalue": prediction_p,
                "new_labelled_rows": int(new_labelled),
                "month_auc": month_auc,
                "auc_relative_drop": auc_drop,
                "retrain_evidence": json.dumps(evidence),
            },
        )
    within = not drifted and prediction_p >= settings.drift_prediction_pvalue
    yield dg.AssetCheckResult(
        passed=within,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"max PSI {drifts[0].psi:.3f} ({drifts[0].feature}); {len(drifted)} feature(s) >= "
            f"{settings.drift_psi_threshold}; prediction KS p = {prediction_p:.3g} "
            f"(drift below {settings.drift_prediction_pvalue})"
        ),
        metadata={"drifted_features": drifted},
    )
    yield dg.MaterializeResult(
        metadata={
            "max_psi": dg.MetadataValue.float(drifts[0].psi),
            "max_psi_feature": drifts[0].feature,
            "drifted_features": dg.MetadataValue.json(drifted),
            "prediction_ks_pvalue": dg.MetadataValue.float(prediction_p),
            "new_labelled_rows": dg.MetadataValue.int(int(new_labelled)),
            "month_auc": dg.MetadataValue.float(
                month_auc if month_auc is not None else float("nan")
            ),
            "auc_relative_drop": dg.MetadataValue.float(
                auc_drop if auc_drop is not None else float("nan")
            ),
            "champion_version": dg.MetadataValue.int(int(champion.version)),
            # The platform's clock: the drift sensor's cooldown is measured in it.
            "as_of": now.isoformat(timespec="seconds"),
            "statistics_seconds": dg.MetadataValue.float(round(stats_seconds, 2)),
            "report_html": dg.MetadataValue.path(str(out_dir / "report.html")),
            "report_html_scope": (
                f"verdict, score distribution, then Evidently on the top {len(shown)} of "
                f"{len(drifts)} features by PSI and the predicted PD, {html_rows} rows a side"
            ),
            "drift_retrain_rule": "retrain" if verdict.retrain else "no retrain",
            "reference_months": ", ".join(months),
            "top_features": md.table(
                [{"feature": d.feature, "psi": d.psi, "band": d.band} for d in drifts[:15]],
                {"feature": "string", "psi": "float", "band": "string"},
            ),
        }
    )
