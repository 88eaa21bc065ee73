"""The application table: profiled marginals plus the structure credit data really has.

Structure kept on purpose: pensioners carry the ``DAYS_EMPLOYED = 365243`` sentinel and the
``XNA`` organisation; amounts are log-normal and tied to each other (credit to income, goods
price and annuity to credit); the three external scores are noisy views of one latent credit
quality; building statistics are missing together and their _MODE/_MEDI follow _AVG.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtr

from creditplatform.homecredit import SENTINEL_DAYS, TABLES, profile
from creditplatform.synthetic.marginals import category_weights, sample_column, sample_levels

_BUILDING_SUFFIXES = ("_AVG", "_MODE", "_MEDI")


def _spec(name: str) -> dict:
    return next(c for c in profile()["application"] if c["name"] == name)


def _lognormal(rng, n, median, sigma, z=None):
    z = rng.standard_normal(n) if z is None else z
    return median * np.exp(sigma * z)


def _round_to(x: np.ndarray, step: float) -> np.ndarray:
    return np.round(x / step) * step


def _null_groups() -> list[list[str]]:
    """Columns that are missing together in the real data."""
    columns = TABLES["application"].columns
    return [
        [c for c in columns if c.endswith(_BUILDING_SUFFIXES)]
        + ["FONDKAPREMONT_MODE", "HOUSETYPE_MODE", "TOTALAREA_MODE", "WALLSMATERIAL_MODE",
           "EMERGENCYSTATE_MODE"],
        [c for c in columns if c.startswith("AMT_REQ_CREDIT_BUREAU_")],
        [c for c in columns if c.endswith("_CNT_SOCIAL_CIRCLE")],
    ]  # fmt: skip


def _apply_null_groups(rng: np.random.Generator, frame: pd.DataFrame) -> None:
    """One uniform per row and group, so a group's columns are missing together (nested)."""
    rates = {c["name"]: c["null_rate"] for c in profile()["application"]}
    for columns in _null_groups():
        u = rng.random(len(frame))
        for col in columns:
            frame.loc[u < rates[col], col] = None


def _building_block(rng: np.random.Generator, frame: pd.DataFrame) -> None:
    """_MODE and _MEDI are statistics of the same building as _AVG: keep them close to it."""
    for col in [str(c) for c in frame if str(c).endswith("_AVG")]:
        base = col[: -len("_AVG")]
        avg = frame[col].to_numpy(dtype=float)
        for suffix in ("_MODE", "_MEDI"):
            noise = 1.0 + 0.05 * rng.standard_normal(len(frame))
            frame[base + suffix] = np.clip(np.round(avg * noise, 4), 0.0, 1.0)


def generate_applicants(
    rng: np.random.Generator, n: int, first_id: int, revolving_share: float | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """Draw ``n`` applications; also return each applicant's latent behaviour risk (std normal).

    ``revolving_share`` overrides the product mix; it consumes the same random numbers as the
    default, so a product-mix scenario changes NAME_CONTRACT_TYPE and nothing else.
    """
    columns = TABLES["application"].columns
    grouped = {c for group in _null_groups() for c in group}
    frame = pd.DataFrame(
        {c: sample_column(rng, _spec(c), n, with_nulls=c not in grouped) for c in columns}
    )
    frame["SK_ID_CURR"] = np.arange(first_id, first_id + n, dtype=np.int64)

    quality = rng.standard_normal(n)  # higher = better borrower
    behaviour_risk = -0.55 * quality + np.sqrt(1 - 0.55**2) * rng.standard_normal(n)

    contract_u = rng.random(n)
    share = revolving_share if revolving_share is not None else 0.1015
    frame["NAME_CONTRACT_TYPE"] = np.where(contract_u < share, "Revolving loans", "Cash loans")
    frame["CODE_GENDER"] = sample_levels(rng, {"F": 0.658, "M": 0.342, "XNA": 0.000013}, n)

    age_days = np.round(np.interp(rng.random(n), [0, 1], [7705, 25144])).astype(np.int64)
    frame["DAYS_BIRTH"] = -age_days
    age_years = age_days / 365.25
    pensioner = rng.random(n) < 1 / (1 + np.exp(-(age_years - 59.5) / 2.2))
    unemployed = ~pensioner & (rng.random(n) < 0.0001)
    sentinel = pensioner | unemployed

    working_levels = {
        k: v for k, v in category_weights(_spec("NAME_INCOME_TYPE")).items() if k != "Pensioner"
    }
    working_levels.update({"Student": 0.05, "Maternity leave": 0.01})
    working_levels.pop("Unemployed", None)
    income_type = sample_levels(rng, working_levels, n)
    income_type[pensioner] = "Pensioner"
    income_type[unemployed] = "Unemployed"
    frame["NAME_INCOME_TYPE"] = income_type

    max_employed = np.maximum(age_days - 18 * 365, 30)
    employed = np.minimum(np.round(_lognormal(rng, n, 1224, 1.0)), max_employed).astype(np.int64)
    frame["DAYS_EMPLOYED"] = np.where(sentinel, SENTINEL_DAYS, -employed)
    frame["FLAG_EMP_PHONE"] = np.where(sentinel, 0, 1).astype(np.int64)
    org_levels = {
        k: v for k, v in category_weights(_spec("ORGANIZATION_TYPE")).items() if k != "XNA"
    }
    organisation = sample_levels(rng, org_levels, n)
    organisation[sentinel] = "XNA"
    frame["ORGANIZATION_TYPE"] = organisation
    occupation = sample_levels(rng, category_weights(_spec("OCCUPATION_TYPE")), n)
    occupation[sentinel | (rng.random(n) < 0.14)] = None
    frame["OCCUPATION_TYPE"] = occupation

    income_z = rng.standard_normal(n)
    income = _lognormal(rng, n, 135000, 0.5, income_z) * np.where(pensioner, 0.75, 1.0)
    frame["AMT_INCOME_TOTAL"] = np.maximum(_round_to(income, 2250), 25650.0)
    credit_z = 0.45 * income_z + np.sqrt(1 - 0.45**2) * rng.standard_normal(n)
    credit = np.clip(_lognormal(rng, n, 521280, 0.6, credit_z), 45000, 4050000)
    frame["AMT_CREDIT"] = _round_to(credit, 4.5)
    goods = _round_to(credit * rng.uniform(0.78, 1.0, n), 4500)
    frame["AMT_GOODS_PRICE"] = np.where(rng.random(n) < 0.002, np.nan, np.maximum(goods, 45000))
    # Credit/annuity ratio (term in months, roughly) ranges 8-45 with a mode near 20.
    term = np.clip(_lognormal(rng, n, 20.5, 0.32), 8, 45)
    frame["AMT_ANNUITY"] = np.maximum(np.round(credit / term * 2) / 2, 2781.0)

    for k, weight in ((1, 0.6), (2, 0.55), (3, 0.5)):
        score = ndtr(weight * quality + np.sqrt(1 - weight**2) * rng.standard_normal(n))
        frame[f"EXT_SOURCE_{k}"] = np.round(0.0005 + 0.93 * score, 6)
    frame.loc[rng.random(n) < 0.568, "EXT_SOURCE_1"] = None
    frame.loc[rng.random(n) < 0.002, "EXT_SOURCE_2"] = None
    frame.loc[rng.random(n) < 0.213, "EXT_SOURCE_3"] = None

    frame["CNT_FAM_MEMBERS"] = np.maximum(
        frame["CNT_FAM_MEMBERS"].to_numpy(dtype=float), frame["CNT_CHILDREN"] + 1.0
    )
    frame["FLAG_MOBIL"] = np.int64(1)
    _building_block(rng, frame)
    _apply_null_groups(rng, frame)
    return frame, behaviour_risk
