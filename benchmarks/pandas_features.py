"""The feature store in vectorised pandas (groupby/merge, as the public Home Credit kernels do).

It mirrors the SQL in ``creditplatform/features`` line for line, including SQL's NULL rules
(comparisons with NULL drop out of averages, ``greatest``/``least`` skip NULLs, a sum over no
rows is NULL, x / 0 is NULL), so the benchmark can check that both give the same values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from creditplatform.features.catalog import STORE_COLUMNS, ZERO_WHEN_ABSENT

SENTINEL = 365243


def _div(a: pd.Series, b: pd.Series) -> pd.Series:
    return a / b.where(b != 0)


def _flag(condition: pd.Series, *inputs: pd.Series) -> pd.Series:
    """SQL's CAST(comparison AS INTEGER): NULL when any input is NULL."""
    known = pd.concat(inputs, axis=1).notna().all(axis=1)
    return condition.astype(float).where(known)


def application(app: pd.DataFrame) -> pd.DataFrame:
    out = app.copy()
    employed = app["DAYS_EMPLOYED"].where(app["DAYS_EMPLOYED"] != SENTINEL)
    out["DAYS_EMPLOYED"] = employed
    out["DAYS_EMPLOYED_ANOM"] = (app["DAYS_EMPLOYED"] == SENTINEL).astype(int)
    ext = app[["EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3"]]
    out["EXT_SOURCE_MEAN"] = ext.mean(axis=1)
    out["EXT_SOURCE_MIN"] = ext.min(axis=1)
    out["CREDIT_INCOME_RATIO"] = _div(app["AMT_CREDIT"], app["AMT_INCOME_TOTAL"])
    out["ANNUITY_INCOME_RATIO"] = _div(app["AMT_ANNUITY"], app["AMT_INCOME_TOTAL"])
    out["CREDIT_TERM"] = _div(app["AMT_ANNUITY"], app["AMT_CREDIT"])
    out["CREDIT_ANNUITY_RATIO"] = _div(app["AMT_CREDIT"], app["AMT_ANNUITY"])
    out["GOODS_CREDIT_RATIO"] = _div(app["AMT_GOODS_PRICE"], app["AMT_CREDIT"])
    out["DAYS_EMPLOYED_PERC"] = _div(employed, app["DAYS_BIRTH"])
    out["INCOME_PER_PERSON"] = _div(app["AMT_INCOME_TOTAL"], app["CNT_FAM_MEMBERS"])
    return out


def bureau(bureau: pd.DataFrame, balance: pd.DataFrame) -> pd.DataFrame:
    dpd = balance["STATUS"].isin(list("12345"))
    status = pd.to_numeric(balance["STATUS"], errors="coerce")
    recent_worst = status.where(dpd & (balance["MONTHS_BALANCE"] >= -11), 0)
    per_bureau = (
        balance.assign(dpd=dpd.astype(int), worst=recent_worst)
        .groupby("SK_ID_BUREAU")
        .agg(months=("dpd", "size"), dpd_months=("dpd", "sum"), worst=("worst", "max"))
    )
    b = bureau.merge(per_bureau, left_on="SK_ID_BUREAU", right_index=True, how="left")
    b = b.assign(
        active=(b["CREDIT_ACTIVE"] == "Active").astype(int),
        overdue=(b["CREDIT_DAY_OVERDUE"] > 0).astype(int),
        last_year=(b["DAYS_CREDIT"] >= -365).astype(int),
    )
    g = b.groupby("SK_ID_CURR")
    out = pd.DataFrame(
        {
            "BURO_COUNT": g.size(),
            "BURO_ACTIVE_COUNT": g["active"].sum(),
            "BURO_OVERDUE_COUNT": g["overdue"].sum(),
            "BURO_COUNT_LAST_YEAR": g["last_year"].sum(),
            "BURO_DAYS_CREDIT_MEAN": g["DAYS_CREDIT"].mean(),
            "BURO_DAYS_CREDIT_MAX": g["DAYS_CREDIT"].max(),
            "BURO_DAYS_CREDIT_MIN": g["DAYS_CREDIT"].min(),
            "BURO_AMT_CREDIT_SUM_MEAN": g["AMT_CREDIT_SUM"].mean(),
            "BURO_AMT_CREDIT_SUM_TOTAL": g["AMT_CREDIT_SUM"].sum(min_count=1),
            "BURO_DEBT_TOTAL": g["AMT_CREDIT_SUM_DEBT"].sum(min_count=1),
            "BURO_OVERDUE_TOTAL": g["AMT_CREDIT_SUM_OVERDUE"].sum(min_count=1),
            "BURO_MAX_OVERDUE_MAX": g["AMT_CREDIT_MAX_OVERDUE"].max(),
            "BB_MONTHS_COUNT": g["months"].sum(min_count=1),
            "BB_DPD_MONTHS": g["dpd_months"].sum(min_count=1),
            "BB_WORST_STATUS_12M": g["worst"].max(),
        }
    )
    out["BURO_DEBT_CREDIT_RATIO"] = _div(out["BURO_DEBT_TOTAL"], out["BURO_AMT_CREDIT_SUM_TOTAL"])
    out["BB_DPD_SHARE"] = _div(out["BB_DPD_MONTHS"], out["BB_MONTHS_COUNT"])
    return out


def previous(prev: pd.DataFrame) -> pd.DataFrame:
    refused = prev["NAME_CONTRACT_STATUS"] == "Refused"
    approved = prev["NAME_CONTRACT_STATUS"] == "Approved"
    p = prev.assign(
        approved=approved.astype(int),
        refused=refused.astype(int),
        refused_last_year=(refused & (prev["DAYS_DECISION"] >= -365)).astype(int),
        approved_credit=prev["AMT_CREDIT"].where(approved),
        app_credit=_div(prev["AMT_APPLICATION"], prev["AMT_CREDIT"]),
    )
    g = p.groupby("SK_ID_CURR")
    return pd.DataFrame(
        {
            "PREV_COUNT": g.size(),
            "PREV_APPROVED_COUNT": g["approved"].sum(),
            "PREV_REFUSED_COUNT": g["refused"].sum(),
            "PREV_REFUSED_SHARE": g["refused"].mean(),
            "PREV_REFUSED_LAST_YEAR": g["refused_last_year"].sum(),
            "PREV_AMT_CREDIT_MEAN": g["AMT_CREDIT"].mean(),
            "PREV_APPROVED_CREDIT_TOTAL": g["approved_credit"].sum(min_count=1),
            "PREV_APP_CREDIT_RATIO_MEAN": g["app_credit"].mean(),
            "PREV_DAYS_DECISION_MAX": g["DAYS_DECISION"].max(),
            "PREV_CNT_PAYMENT_MEAN": g["CNT_PAYMENT"].mean(),
        }
    )


def pos_cash(pos: pd.DataFrame) -> pd.DataFrame:
    p = pos.assign(
        dpd=(pos["SK_DPD"] > 0).astype(int),
        dpd_12m=((pos["SK_DPD"] > 0) & (pos["MONTHS_BALANCE"] >= -12)).astype(int),
        completed=(pos["NAME_CONTRACT_STATUS"] == "Completed").astype(int),
    )
    g = p.groupby("SK_ID_CURR")
    return pd.DataFrame(
        {
            "POS_MONTHS_COUNT": g.size(),
            "POS_DPD_MAX": g["SK_DPD"].max(),
            "POS_DPD_SHARE": g["dpd"].mean(),
            "POS_DPD_12M": g["dpd_12m"].max(),
            "POS_MONTHS_BALANCE_MAX": g["MONTHS_BALANCE"].max(),
            "POS_COMPLETED_SHARE": g["completed"].mean(),
            "POS_INSTALMENT_FUTURE_MEAN": g["CNT_INSTALMENT_FUTURE"].mean(),
        }
    )


def installments(inst: pd.DataFrame) -> pd.DataFrame:
    entry, due = inst["DAYS_ENTRY_PAYMENT"], inst["DAYS_INSTALMENT"]
    paid, owed = inst["AMT_PAYMENT"], inst["AMT_INSTALMENT"]
    late = _flag(entry > due, entry, due)
    i = inst.assign(
        late=late,
        late_1y=late.where(due >= -365),
        days_late=(entry - due).clip(lower=0).fillna(0.0),  # greatest(NULL, 0) is 0 in SQL
        lateness=entry - due,
        short=_flag(paid < owed, paid, owed),
        ratio=_div(paid, owed),
        missing=paid.isna().astype(int),
    )
    g = i.groupby("SK_ID_CURR")
    return pd.DataFrame(
        {
            "INST_COUNT": g.size(),
            "INST_LATE_SHARE": g["late"].mean(),
            "INST_LATE_SHARE_1Y": g["late_1y"].mean(),
            "INST_DAYS_LATE_MEAN": g["days_late"].mean(),
            "INST_DAYS_LATE_MAX": g["lateness"].max(),
            "INST_SHORT_SHARE": g["short"].mean(),
            "INST_PAYMENT_RATIO_MEAN": g["ratio"].mean(),
            "INST_MISSING_PAYMENTS": g["missing"].sum(),
        }
    )


def credit_card(cc: pd.DataFrame) -> pd.DataFrame:
    utilisation = _div(cc["AMT_BALANCE"], cc["AMT_CREDIT_LIMIT_ACTUAL"].astype(float))
    c = cc.assign(u=utilisation, u6=utilisation.where(cc["MONTHS_BALANCE"] >= -6))
    g = c.groupby("SK_ID_CURR")
    return pd.DataFrame(
        {
            "CC_MONTHS_COUNT": g.size(),
            "CC_UTILISATION_MEAN": g["u"].mean(),
            "CC_UTILISATION_MAX": g["u"].max(),
            "CC_UTILISATION_6M": g["u6"].mean(),
            "CC_DPD_MAX": g["SK_DPD"].max(),
            "CC_DRAWINGS_MEAN": g["AMT_DRAWINGS_CURRENT"].mean(),
        }
    )


def feature_frame(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One month's features from its raw tables (names as in ``raw``: lower-case assets)."""
    out = application(tables["application"])
    parts = [
        bureau(tables["bureau"], tables["bureau_balance"]),
        previous(tables["previous_application"]),
        pos_cash(tables["pos_cash_balance"]),
        installments(tables["installments_payments"]),
        credit_card(tables["credit_card_balance"]),
    ]
    for part in parts:
        out = out.merge(part, left_on="SK_ID_CURR", right_index=True, how="left")
    for column in ZERO_WHEN_ABSENT:
        out[column] = out[column].fillna(0)
    return out[list(STORE_COLUMNS)].sort_values("SK_ID_CURR").reset_index(drop=True)


def compare(duck: pd.DataFrame, pandas_frame: pd.DataFrame, rtol: float = 1e-9) -> dict[str, int]:
    """Columns whose values differ beyond float tolerance (count of differing rows)."""
    duck = duck.sort_values("SK_ID_CURR").reset_index(drop=True)
    diffs = {}
    for column in STORE_COLUMNS:
        a, b = duck[column], pandas_frame[column]
        if a.dtype == object or b.dtype == object:
            same = a.fillna("∅").astype(str) == b.fillna("∅").astype(str)
        else:
            x = pd.to_numeric(a, errors="coerce").to_numpy(float)
            y = pd.to_numeric(b, errors="coerce").to_numpy(float)
            same = np.isclose(x, y, rtol=rtol, atol=1e-9, equal_nan=True)
        if not np.all(same):
            diffs[column] = int((~np.asarray(same)).sum())
    return diffs
