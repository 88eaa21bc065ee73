"""Leakage-safe splits: by applicant, stable across retrains, plus an out-of-time month.

An applicant's split is a hash of its SK_ID_CURR (and the seed), not a fresh random draw, so
the same applicant lands in the same split on every retrain. That keeps the current champion
from ever having trained on the rows the candidate is tested on, which is what makes
"champion and candidate on the same test set" a fair comparison. Hash buckets are independent
of the label, so each split's default rate matches the window's (stratified in expectation; the
checks report each split's label rate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SPLITS = ("train", "valid", "test", "oot")


def _splitmix64(values: np.ndarray) -> np.ndarray:
    z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def hash_bucket(ids: np.ndarray, seed: int) -> np.ndarray:
    """A uniform number in [0, 1) per id, fixed for a given seed."""
    with np.errstate(over="ignore"):
        mixed = _splitmix64(np.asarray(ids, dtype=np.uint64) ^ np.uint64(seed))
    return (mixed >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def matured_months(label_share: pd.Series, minimum_share: float) -> list[str]:
    """Months whose applications (nearly) all carry an outcome, oldest first."""
    return sorted(str(m) for m, share in label_share.items() if share >= minimum_share)


def assign_splits(
    frame: pd.DataFrame, window: list[str], seed: int, valid_share: float, test_share: float
) -> pd.DataFrame:
    """``frame`` has SK_ID_CURR, month, TARGET; the last month of ``window`` is out-of-time."""
    if len(window) < 2:
        raise ValueError(f"need at least two matured months to split, got {window}")
    rows = frame[frame["month"].isin(window)][["SK_ID_CURR", "month", "TARGET"]].copy()
    bucket = hash_bucket(rows["SK_ID_CURR"].to_numpy(), seed)
    split = np.where(
        bucket < test_share, "test", np.where(bucket < test_share + valid_share, "valid", "train")
    )
    rows["split"] = np.where(rows["month"] == window[-1], "oot", split)
    return rows.sort_values(["month", "SK_ID_CURR"]).reset_index(drop=True)


@dataclass(frozen=True)
class SplitCheck:
    name: str
    passed: bool
    description: str


def check_splits(splits: pd.DataFrame) -> list[SplitCheck]:
    """No applicant in two splits; OOT strictly after training months; both classes everywhere."""
    per_applicant = splits.groupby("SK_ID_CURR")["split"].nunique()
    shared = per_applicant[per_applicant > 1]
    checks = [
        SplitCheck(
            "no_applicant_in_two_splits",
            shared.empty,
            f"{len(shared)} applicant(s) in more than one split"
            + (f", e.g. {list(shared.index[:5])}" if len(shared) else ""),
        )
    ]
    in_time = splits.loc[splits["split"] != "oot", "month"]
    oot = splits.loc[splits["split"] == "oot", "month"]
    ordered = not oot.empty and not in_time.empty and oot.min() > in_time.max()
    checks.append(
        SplitCheck(
            "oot_after_training_months",
            ordered,
            f"OOT months {sorted(oot.unique())} vs latest in-time month "
            f"{in_time.max() if not in_time.empty else None}",
        )
    )
    rates = splits.groupby("split")["TARGET"].agg(["min", "max", "mean", "size"])
    missing = [s for s in SPLITS if s not in rates.index]
    one_class = [s for s in rates.index if rates.loc[s, "min"] == rates.loc[s, "max"]]
    checks.append(
        SplitCheck(
            "both_classes_in_every_split",
            not missing and not one_class,
            "label rate per split: "
            + ", ".join(
                f"{s} {rates.loc[s, 'mean']:.4f} (n={int(rates.loc[s, 'size'])})"
                for s in rates.index
            )
            + (f"; empty: {missing}" if missing else "")
            + (f"; one class only: {one_class}" if one_class else ""),
        )
    )
    return checks


def history_shortfall(matured: int, has_champion: bool, min_first_model_months: int) -> str | None:
    """Why training may not run on ``matured`` months, or None when it may.

    Any model needs two months (training months plus the out-of-time month). A first model —
    there is no champion to fall back on — needs ``min_first_model_months``, whether the run
    came from the staleness sensor, the weekly schedule or a person.
    """
    if matured < 2:
        return f"training needs at least 2 matured months, found {matured}"
    if not has_champion and matured < min_first_model_months:
        return (
            f"a first model needs {min_first_model_months} matured months (no champion yet), "
            f"found {matured}"
        )
    return None
