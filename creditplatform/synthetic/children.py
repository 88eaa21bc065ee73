"""The six child tables, drawn per applicant at the Kaggle proportions with real key relations.

Rows per application in the full Kaggle data (307,511 applications): bureau 5.58,
bureau_balance 88.8, previous_application 5.43, POS_CASH 32.5, installments 44.2,
credit_card 12.5. Each applicant's latent behaviour risk drives delinquency in every child
table (bureau overdue, bureau_balance DPD buckets, refusals, late and short instalments, POS
days past due, card utilisation), which is what makes child-table features worth engineering.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from creditplatform.homecredit import SENTINEL_DAYS, TABLES, profile
from creditplatform.synthetic.marginals import (
    category_weights,
    sample_column,
    sample_levels,
    within_group_index,
)

DAYS_PER_MONTH = 30.4375


@dataclass
class IdCounters:
    """Next free surrogate keys; carried from month to month so keys are unique over history."""

    bureau: int = 5_000_000
    prev: int = 1_000_000


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _counts(rng: np.random.Generator, n: int, mean: float, zero_share: float) -> np.ndarray:
    """Over-dispersed counts (gamma-Poisson) with the share of applicants that have none."""
    lam = rng.gamma(2.0, mean / (2.0 * (1 - zero_share)), n)
    return rng.poisson(lam) * (rng.random(n) >= zero_share)


def _profiled(rng: np.random.Generator, table: str, n: int) -> pd.DataFrame:
    specs = profile()[table]
    return pd.DataFrame({c["name"]: sample_column(rng, c, n) for c in specs})


def _spec(table: str, column: str) -> dict:
    return next(c for c in profile()[table] if c["name"] == column)


def _bureau(rng, ids, risk, counters):
    counts = _counts(rng, len(ids), 5.58, 0.14)
    owner = np.repeat(np.arange(len(ids)), counts)
    n = len(owner)
    frame = _profiled(rng, "bureau", n)
    frame["SK_ID_CURR"] = ids[owner]
    frame["SK_ID_BUREAU"] = np.arange(counters.bureau, counters.bureau + n, dtype=np.int64)
    counters.bureau += n
    r = risk[owner]
    active = rng.random(n) < 0.36
    status = np.where(active, "Active", "Closed").astype(object)
    status[rng.random(n) < 0.004] = "Sold"
    status[rng.random(n) < 0.0002] = "Bad debt"
    frame["CREDIT_ACTIVE"] = status
    days_credit = -np.round(rng.uniform(0, 2922, n)).astype(np.int64)
    frame["DAYS_CREDIT"] = days_credit
    overdue = active & (rng.random(n) < _sigmoid(-3.3 + 1.1 * r))
    frame["CREDIT_DAY_OVERDUE"] = np.where(overdue, rng.geometric(1 / 40, n), 0).astype(np.int64)
    duration = np.round(rng.uniform(60, 3650, n))
    frame["DAYS_CREDIT_ENDDATE"] = np.where(rng.random(n) < 0.061, np.nan, days_credit + duration)
    closed_at = np.minimum(days_credit + np.round(duration * rng.uniform(0.3, 1.0, n)), 0)
    frame["DAYS_ENDDATE_FACT"] = np.where(active, np.nan, closed_at)
    frame["DAYS_CREDIT_UPDATE"] = np.round(days_credit * rng.uniform(0, 1, n)).astype(np.int64)
    amount = np.round(127700 * np.exp(1.1 * rng.standard_normal(n)), 1)
    frame["AMT_CREDIT_SUM"] = amount
    debt = np.where(active, np.round(amount * rng.uniform(0, 1, n), 1), 0.0)
    frame["AMT_CREDIT_SUM_DEBT"] = np.where(rng.random(n) < 0.142, np.nan, debt)
    frame["AMT_CREDIT_SUM_OVERDUE"] = np.where(overdue, np.round(debt * rng.uniform(0, 0.2, n)), 0)
    return frame[list(TABLES["bureau"].columns)], active, closed_at


def _bureau_balance(rng, bureau, risk_by_owner, closed_at, active):
    n_bureau = len(bureau)
    months_open = np.ceil(-bureau["DAYS_CREDIT"].to_numpy() / DAYS_PER_MONTH).astype(np.int64) + 1
    has_history = rng.random(n_bureau) < 0.476
    length = np.where(has_history, np.floor(months_open * np.sqrt(rng.random(n_bureau))) + 1, 0)
    length = np.minimum(length, 97).astype(np.int64)
    parent = np.repeat(np.arange(n_bureau), length)
    months = -within_group_index(length)
    n = len(parent)
    r = risk_by_owner[parent]
    status = np.full(n, "0", dtype=object)
    dpd = rng.random(n) < _sigmoid(-4.2 + 1.3 * r)
    bucket = np.minimum(rng.geometric(0.55, n), 5).astype(str)
    status[dpd] = bucket[dpd]
    status[rng.random(n) < 0.2] = "X"
    closed_month = np.ceil(closed_at / DAYS_PER_MONTH)[parent]
    status[~active[parent] & (months > closed_month)] = "C"
    return pd.DataFrame(
        {
            "SK_ID_BUREAU": bureau["SK_ID_BUREAU"].to_numpy()[parent],
            "MONTHS_BALANCE": months.astype(np.int64),
            "STATUS": status,
        }
    )


def _previous(rng, ids, risk, counters):
    counts = _counts(rng, len(ids), 5.43, 0.05)
    owner = np.repeat(np.arange(len(ids)), counts)
    n = len(owner)
    frame = _profiled(rng, "previous_application", n)
    frame["SK_ID_PREV"] = np.arange(counters.prev, counters.prev + n, dtype=np.int64)
    counters.prev += n
    frame["SK_ID_CURR"] = ids[owner]
    r = risk[owner]
    kind = sample_levels(
        rng, {"Cash loans": 0.475, "Consumer loans": 0.424, "Revolving loans": 0.101}, n
    )
    frame["NAME_CONTRACT_TYPE"] = kind
    refused = rng.random(n) < _sigmoid(-2.0 + 0.8 * r)
    other = sample_levels(rng, {"Approved": 0.636, "Canceled": 0.206, "Unused offer": 0.015}, n)
    contract_status = np.where(refused, "Refused", other).astype(object)
    frame["NAME_CONTRACT_STATUS"] = contract_status
    approved = contract_status == "Approved"
    decision = -np.round(rng.uniform(3, 2920, n)).astype(np.int64)
    frame["DAYS_DECISION"] = decision
    application = np.round(76610 * np.exp(0.9 * rng.standard_normal(n)) / 4.5) * 4.5
    frame["AMT_APPLICATION"] = application
    frame["AMT_CREDIT"] = np.round(application * rng.uniform(0.9, 1.15, n), 1)
    terms = sample_levels(rng, {6: 0.2, 10: 0.1, 12: 0.3, 18: 0.1, 24: 0.15, 36: 0.1, 48: 0.05}, n)
    cnt_payment = np.where(kind == "Revolving loans", 0.0, terms.astype(float))
    priced = approved | (rng.random(n) < 0.5)
    frame["CNT_PAYMENT"] = np.where(priced, cnt_payment, np.nan)
    annuity = np.round(frame["AMT_CREDIT"].to_numpy() / np.maximum(cnt_payment, 1) * 1.15, 2)
    annuity = np.where(kind == "Revolving loans", np.round(frame["AMT_CREDIT"] * 0.05, 2), annuity)
    frame["AMT_ANNUITY"] = np.where(priced, annuity, np.nan)
    frame["AMT_GOODS_PRICE"] = np.where(priced, application, np.nan)
    reject = sample_levels(
        rng, category_weights(_spec("previous_application", "CODE_REJECT_REASON")), n
    )
    frame["CODE_REJECT_REASON"] = np.where(refused, np.where(reject == "XAP", "HC", reject), "XAP")

    first_due = decision + 30
    sentinel_or = lambda share, values: np.where(rng.random(n) < share, SENTINEL_DAYS, values)  # noqa: E731
    last_due_1st = np.minimum(first_due + 30 * np.maximum(cnt_payment, 1), -1)
    frame["DAYS_FIRST_DRAWING"] = sentinel_or(0.95, decision + 5)
    frame["DAYS_FIRST_DUE"] = sentinel_or(0.04, np.minimum(first_due, -1))
    frame["DAYS_LAST_DUE_1ST_VERSION"] = sentinel_or(0.08, last_due_1st)
    frame["DAYS_LAST_DUE"] = sentinel_or(0.20, last_due_1st)
    frame["DAYS_TERMINATION"] = sentinel_or(0.20, np.minimum(last_due_1st + 3, -1))
    frame["NFLAG_INSURED_ON_APPROVAL"] = np.round(rng.random(n) < 0.29).astype(float)
    for col in ("DAYS_FIRST_DRAWING", "DAYS_FIRST_DUE", "DAYS_LAST_DUE_1ST_VERSION",
                "DAYS_LAST_DUE", "DAYS_TERMINATION", "NFLAG_INSURED_ON_APPROVAL"):  # fmt: skip
        frame[col] = np.where(approved, frame[col].astype(float), np.nan)
    return frame[list(TABLES["previous_application"].columns)], owner, approved


def _pos_cash(rng, prev, risk_prev, eligible):
    n_prev = len(prev)
    terms = np.nan_to_num(prev["CNT_PAYMENT"].to_numpy(), nan=12.0)
    months_ago = np.ceil(-prev["DAYS_DECISION"].to_numpy() / DAYS_PER_MONTH).astype(np.int64)
    length = np.where(eligible, np.round(np.maximum(terms, 1) * rng.uniform(0.22, 1.12, n_prev)), 0)
    length = np.clip(length, 0, np.minimum(months_ago, 96)).astype(np.int64)
    parent = np.repeat(np.arange(n_prev), length)
    k = within_group_index(length)
    n = len(parent)
    start = -months_ago[parent]
    future = np.maximum(terms[parent] - k, 0)
    status = np.where(future == 0, "Completed", "Active").astype(object)
    status[(k == 0) & (rng.random(n) < 0.1)] = "Signed"
    late_prev = rng.random(n_prev) < _sigmoid(-3.0 + 1.2 * risk_prev)
    dpd = np.where(late_prev[parent] & (rng.random(n) < 0.3), rng.geometric(1 / 12, n), 0)
    return pd.DataFrame(
        {
            "SK_ID_PREV": prev["SK_ID_PREV"].to_numpy()[parent],
            "SK_ID_CURR": prev["SK_ID_CURR"].to_numpy()[parent],
            "MONTHS_BALANCE": (start + k).astype(np.int64),
            "CNT_INSTALMENT": terms[parent],
            "CNT_INSTALMENT_FUTURE": future.astype(float),
            "NAME_CONTRACT_STATUS": status,
            "SK_DPD": dpd.astype(np.int64),
            "SK_DPD_DEF": np.where(rng.random(n) < 0.7, dpd, 0).astype(np.int64),
        }
    )


def _installments(rng, prev, risk_prev, eligible):
    n_prev = len(prev)
    terms = np.nan_to_num(prev["CNT_PAYMENT"].to_numpy(), nan=12.0)
    first_due = np.nan_to_num(prev["DAYS_FIRST_DUE"].to_numpy(), nan=-30.0)
    first_due = np.where(first_due == SENTINEL_DAYS, prev["DAYS_DECISION"] + 30, first_due)
    first_due = np.minimum(first_due, -1)
    room = np.floor(-first_due / 30).astype(np.int64) + 1
    length = np.where(eligible, np.round(np.maximum(terms, 4) * rng.uniform(0.4, 1.37, n_prev)), 0)
    length = np.clip(length, 0, room).astype(np.int64)
    parent = np.repeat(np.arange(n_prev), length)
    k = within_group_index(length)
    n = len(parent)
    r = risk_prev[parent]
    due = first_due[parent] + 30 * k
    late = rng.random(n) < _sigmoid(-2.9 + 1.2 * r)
    delay = np.where(late, rng.geometric(1 / 9, n), -rng.integers(0, 15, n))
    paid_on = np.minimum(due + delay, -1).astype(float)
    instalment = np.nan_to_num(prev["AMT_ANNUITY"].to_numpy(), nan=5000.0)[parent]
    short = rng.random(n) < _sigmoid(-3.6 + 1.0 * r)
    payment = np.round(np.where(short, instalment * rng.uniform(0.2, 0.95, n), instalment), 3)
    version = np.where(prev["NAME_CONTRACT_TYPE"].to_numpy()[parent] == "Revolving loans", 0.0, 1.0)
    frame = pd.DataFrame(
        {
            "SK_ID_PREV": prev["SK_ID_PREV"].to_numpy()[parent],
            "SK_ID_CURR": prev["SK_ID_CURR"].to_numpy()[parent],
            "NUM_INSTALMENT_VERSION": version,
            "NUM_INSTALMENT_NUMBER": (k + 1).astype(np.int64),
            "DAYS_INSTALMENT": due.astype(float),
            "DAYS_ENTRY_PAYMENT": paid_on,
            "AMT_INSTALMENT": np.round(instalment, 3),
            "AMT_PAYMENT": payment,
        }
    )
    missing = rng.random(n) < 0.0002
    frame.loc[missing, ["DAYS_ENTRY_PAYMENT", "AMT_PAYMENT"]] = np.nan
    # A short payment is often topped up later: the real file has a second row for it.
    topped_up = short & ~missing & (rng.random(n) < 0.5)
    extra = frame[topped_up].copy()
    extra["AMT_PAYMENT"] = np.round(extra["AMT_INSTALMENT"] - extra["AMT_PAYMENT"], 3)
    extra["DAYS_ENTRY_PAYMENT"] = np.minimum(extra["DAYS_ENTRY_PAYMENT"] + 10, -1)
    return pd.concat([frame, extra]).sort_index(kind="stable").reset_index(drop=True)


def _credit_card(rng, prev, risk_prev, eligible):
    n_prev = len(prev)
    months_ago = np.ceil(-prev["DAYS_DECISION"].to_numpy() / DAYS_PER_MONTH).astype(np.int64)
    length = np.where(
        eligible, np.round(np.minimum(months_ago, 96) * rng.uniform(0.33, 1.18, n_prev)), 0
    )
    length = np.clip(length, 0, np.minimum(months_ago, 96)).astype(np.int64)
    parent = np.repeat(np.arange(n_prev), length)
    k = within_group_index(length)
    n = len(parent)
    frame = _profiled(rng, "credit_card_balance", n)
    limit = (rng.integers(1, 20, n_prev) * 22500).astype(np.int64)
    utilisation = np.clip(
        _sigmoid(-1.0 + 1.2 * risk_prev + 0.5 * rng.standard_normal(n_prev)), 0, 1
    )
    monthly = np.clip(utilisation[parent] + 0.1 * rng.standard_normal(n), 0, 1.2)
    balance = np.round(limit[parent] * monthly, 3)
    frame["SK_ID_PREV"] = prev["SK_ID_PREV"].to_numpy()[parent]
    frame["SK_ID_CURR"] = prev["SK_ID_CURR"].to_numpy()[parent]
    frame["MONTHS_BALANCE"] = (-months_ago[parent] + k).astype(np.int64)
    frame["AMT_BALANCE"] = balance
    frame["AMT_CREDIT_LIMIT_ACTUAL"] = limit[parent]
    frame["AMT_RECEIVABLE_PRINCIPAL"] = np.round(balance * 0.95, 3)
    frame["AMT_RECIVABLE"] = balance
    frame["AMT_TOTAL_RECEIVABLE"] = balance
    frame["CNT_INSTALMENT_MATURE_CUM"] = k.astype(float)
    late = rng.random(n) < _sigmoid(-4.0 + 1.3 * risk_prev[parent])
    frame["SK_DPD"] = np.where(late, rng.geometric(1 / 15, n), 0).astype(np.int64)
    frame["SK_DPD_DEF"] = np.where(late & (rng.random(n) < 0.5), frame["SK_DPD"], 0).astype(
        np.int64
    )
    frame["NAME_CONTRACT_STATUS"] = np.where(rng.random(n) < 0.96, "Active", "Completed")
    return frame[list(TABLES["credit_card_balance"].columns)]


def generate_children(
    rng: np.random.Generator, ids: np.ndarray, risk: np.ndarray, counters: IdCounters
) -> dict[str, pd.DataFrame]:
    bureau, active, closed_at = _bureau(rng, ids, risk, counters)
    owner_pos = bureau["SK_ID_CURR"].to_numpy() - ids[0]
    bureau_balance = _bureau_balance(rng, bureau, risk[owner_pos], closed_at, active)
    prev, prev_owner, approved = _previous(rng, ids, risk, counters)
    risk_prev = risk[prev_owner]
    revolving = prev["NAME_CONTRACT_TYPE"].to_numpy() == "Revolving loans"
    return {
        "bureau": bureau,
        "bureau_balance": bureau_balance,
        "previous_application": prev,
        "POS_CASH_balance": _pos_cash(rng, prev, risk_prev, approved & ~revolving),
        "installments_payments": _installments(rng, prev, risk_prev, approved),
        "credit_card_balance": _credit_card(rng, prev, risk_prev, approved & revolving),
    }
