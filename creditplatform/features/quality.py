"""Feature data quality against the reference: the champion's training rows.

A fixed null-rate ceiling refused whole months of real data, where few applicants hold a credit
card or a bureau-balance history: such a feature is sparse in training too, and the model was
fit that way. What matters is change: a feature whose null rate, mean or range moves far from
the rows the champion learnt from. That is a warning with the numbers (drift decides about
retraining); structural problems (columns, duplicates, inf) stay blocking in ``store``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from creditplatform.features.store import STORE
from creditplatform.ml.training_data import SPLITS_TABLE
from creditplatform.sql import ident, one_row


@dataclass(frozen=True)
class QualityLimits:
    """How far a month may move from the reference before a warning (from ``Settings``)."""

    null_rate_shift: float
    mean_shift_sds: float
    out_of_range_share: float


@dataclass(frozen=True)
class Profile:
    null_rate: float | None  # None: no rows
    mean: float | None
    std: float | None
    low: float | None
    high: float | None


_AGGREGATES = (
    "avg(CAST({c} IS NULL AS DOUBLE))", "avg({c})", "stddev_pop({c})", "min({c})", "max({c})",
)  # fmt: skip


def _profiles(
    con: duckdb.DuckDBPyConnection, source: str, columns: list[str], params: list[str]
) -> dict[str, Profile]:
    select = ", ".join(a.format(c=ident(c)) for c in columns for a in _AGGREGATES)
    values = one_row(con.execute(f"SELECT {select} FROM {source}", params))
    width = len(_AGGREGATES)
    return {
        c: Profile(*(None if v is None else float(v) for v in values[i * width : (i + 1) * width]))
        for i, c in enumerate(columns)
    }


def reference_profiles(
    con: duckdb.DuckDBPyConnection, split_set: str, columns: list[str]
) -> dict[str, Profile]:
    """Profiles of the training rows of ``split_set`` (the champion's ``data_sha256``); empty
    when none of those rows is in the store any more."""
    source = (
        f"(SELECT f.* FROM {STORE} f JOIN {SPLITS_TABLE} s USING (month, SK_ID_CURR) "
        "WHERE s.split_set = ? AND s.split = 'train')"
    )
    profiles = _profiles(con, source, columns, [split_set])
    return {} if profiles[columns[0]].null_rate is None else profiles


def _out_of_range_shares(
    con: duckdb.DuckDBPyConnection, month: str, reference: dict[str, Profile]
) -> dict[str, float]:
    bounded = {c: p for c, p in reference.items() if p.low is not None}
    if not bounded:
        return {}
    shares = ", ".join(
        f"coalesce(avg(CAST(NOT ({ident(c)} BETWEEN ? AND ?) AS DOUBLE)), 0)" for c in bounded
    )
    params = [bound for p in bounded.values() for bound in (p.low, p.high)]
    values = one_row(con.execute(f"SELECT {shares} FROM {STORE} WHERE month = ?", [*params, month]))
    return dict(zip(bounded, (float(v) for v in values), strict=True))


def quality_findings(
    con: duckdb.DuckDBPyConnection,
    month: str,
    split_set: str,
    columns: list[str],
    limits: QualityLimits,
) -> list[dict[str, Any]] | None:
    """One finding per feature and measure of the published ``month`` that moved past its
    limit from the training rows of ``split_set``, with both numbers (None: no reference)."""
    reference = reference_profiles(con, split_set, columns)
    if not reference:
        return None
    current = _profiles(con, f"(SELECT * FROM {STORE} WHERE month = ?)", columns, [month])
    outside = _out_of_range_shares(con, month, reference)
    findings: list[dict[str, Any]] = []
    for column in columns:
        ref_p, cur_p = reference[column], current[column]
        ref_null, cur_null = ref_p.null_rate, cur_p.null_rate
        if (
            ref_null is not None
            and cur_null is not None
            and abs(cur_null - ref_null) > limits.null_rate_shift
        ):
            findings.append(_finding(column, "null_rate", ref_null, cur_null))
        ref_mean, cur_mean, ref_std = ref_p.mean, cur_p.mean, ref_p.std
        if (
            cur_mean is not None
            and ref_mean is not None
            and ref_std  # None or 0: a constant feature has no scale to move on
            and abs(cur_mean - ref_mean) > limits.mean_shift_sds * ref_std
        ):
            findings.append(_finding(column, "mean", ref_mean, cur_mean, ref_std))
        if outside.get(column, 0.0) > limits.out_of_range_share:
            findings.append(
                _finding(column, "share_outside_reference_range", 0.0, outside[column])
                | {"reference_range": [ref_p.low, ref_p.high]}
            )
    return findings


def _finding(
    column: str, measure: str, reference: float, current: float, std: float | None = None
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "feature": column,
        "measure": measure,
        "reference": round(reference, 4),
        "current": round(current, 4),
    }
    if std is not None:
        found["shift_in_reference_sds"] = round(abs(current - reference) / std, 2)
    return found
