"""Drift of online traffic: the applicants the service scored, against the champion's reference.

The request log (``serving/requests.duckdb``) holds each scored applicant's feature-store row
and served PD, so it is compared with the champion's drift reference exactly as a month of the
store is (``ml.drift.summarize_drift``, the same thresholds): a lender sees a shift in who
applies before a month of landing files arrives. Only rows scored by the current champion
count, since their PDs are the ones the prediction-drift test compares.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from creditplatform.ml.drift import summarize_drift
from creditplatform.ml.model import predict_pd
from creditplatform.ml.registry import NoChampion, Registry, load_verified
from creditplatform.ml.training_data import load_split
from creditplatform.months import reference_months
from creditplatform.serving.request_log import TABLE
from creditplatform.settings import Settings
from creditplatform.status import connect_when_free


@dataclass(frozen=True)
class OnlineDrift:
    champion_version: int
    reference_months: list[str]
    reference_rows: int
    applicants: int
    since: str | None
    max_psi: float | None
    max_psi_feature: str | None
    drifted_features: list[str]
    prediction_ks_pvalue: float | None
    psi_threshold: float
    prediction_pvalue: float

    @property
    def prediction_drift(self) -> bool:
        p_value = self.prediction_ks_pvalue
        return p_value is not None and p_value < self.prediction_pvalue

    def as_dict(self) -> dict:
        return {
            **asdict(self),
            "feature_drift": bool(self.drifted_features),
            "prediction_drift": self.prediction_drift,
        }


def _logged(path: Path, version: int, since: datetime | None, wait_seconds: float) -> pd.DataFrame:
    """The champion's logged rows, read between the service's brief writes."""
    if not path.exists():
        return pd.DataFrame()
    with connect_when_free(path, wait_seconds, read_only=True) as con:
        return con.execute(
            f"SELECT * FROM {TABLE} WHERE model_version = ? AND received_at >= ?",
            [version, since or datetime.fromtimestamp(0).astimezone()],
        ).df()


def online_drift(
    settings: Settings, since: datetime | None, wait_seconds: float = 60
) -> OnlineDrift:
    registry = Registry.for_settings(settings)
    champion = registry.champion()
    if champion is None:
        raise NoChampion("no champion yet: nothing has been scored online")
    version = int(champion.version)
    months = reference_months(champion.tags["window"].split(","), settings.drift_reference_months)
    online = _logged(settings.request_log_path, version, since, wait_seconds)
    with settings.warehouse.connect(read_only=True, wait_seconds=wait_seconds) as con:
        reference = load_split(con, champion.tags["data_sha256"], "train", months)
    empty = OnlineDrift(
        version, months, len(reference), 0, since.isoformat() if since else None,
        None, None, [], None,
        settings.drift_psi_threshold, settings.drift_prediction_pvalue,
    )  # fmt: skip
    if online.empty:
        return empty
    summary = summarize_drift(
        reference,
        online,
        predict_pd(load_verified(registry, champion), reference),
        online["pd"].to_numpy(),  # what the service answered: the champion's PD of these rows
        settings.drift_psi_threshold,
    )
    top = summary.features[0]
    return OnlineDrift(
        version, months, len(reference), len(online), empty.since, top.psi, top.feature,
        summary.drifted, summary.prediction_ks_pvalue, settings.drift_psi_threshold,
        settings.drift_prediction_pvalue,
    )  # fmt: skip
