"""Write a history of monthly landing folders, with the true PD kept apart in ``truth/``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from creditplatform.homecredit import TABLE_NAMES, TABLES
from creditplatform.months import month_range
from creditplatform.sql import literal
from creditplatform.synthetic.applicants import generate_applicants
from creditplatform.synthetic.children import IdCounters, generate_children
from creditplatform.synthetic.scenarios import BASE_REVOLVING_SHARE, SCENARIOS
from creditplatform.synthetic.truth import true_pd

FIRST_APPLICANT_ID = 100002


@dataclass(frozen=True)
class GenerateOptions:
    months: int = 12
    start: str = "2024-01"
    applications_per_month: int = 25_000
    seed: int = 42
    drift_scenario: str = "none"
    drift_from: str | None = None
    unlabelled_months: int = 0

    def resolved_drift_from(self) -> str | None:
        """Default drift start: two thirds into the history (month 13 of 18)."""
        if self.drift_scenario == "none":
            return None
        return self.drift_from or month_range(self.start, self.months)[(self.months * 2) // 3]


@dataclass(frozen=True)
class MonthSummary:
    month: str
    rows: dict[str, int]
    default_rate: float
    drifted: bool
    seconds: float


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Kaggle formatting: floats keep a decimal point, nulls are empty, text is quoted if needed."""
    con = duckdb.connect()
    try:
        con.register("frame", frame)
        con.execute(f"COPY frame TO {literal(path)} (HEADER, DELIMITER ',')")
    finally:
        con.close()


def generate_month(
    options: GenerateOptions, index: int, month: str, counters: IdCounters
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, bool]:
    scenario = SCENARIOS[options.drift_scenario]
    drift_from = options.resolved_drift_from()
    drifted = drift_from is not None and month >= drift_from
    app_rng, child_rng, label_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence([options.seed, index]).spawn(3)
    )
    n = options.applications_per_month
    share = scenario.revolving_share if drifted and scenario.revolving_share else None
    app, risk = generate_applicants(app_rng, n, FIRST_APPLICANT_ID + index * n, share)
    if drifted:
        app = scenario.apply(app)
    children = generate_children(child_rng, app["SK_ID_CURR"].to_numpy(), risk, counters)
    pd_true = true_pd(app, children, scenario.logit_shift if drifted else 0.0)
    label = (label_rng.random(n) < pd_true).astype(np.int64)
    labelled = index < options.months - options.unlabelled_months
    app["TARGET"] = pd.array(label if labelled else [None] * n, dtype="Int64")
    truth = pd.DataFrame({"SK_ID_CURR": app["SK_ID_CURR"], "TRUE_PD": pd_true, "TARGET": label})
    tables = {"application": app[list(TABLES["application"].columns)], **children}
    return tables, truth, drifted


def generate_history(
    out_dir: Path,
    options: GenerateOptions,
    progress: Callable[[MonthSummary, int, int], None] | None = None,
) -> list[MonthSummary]:
    """Generate ``options.months`` months under ``out_dir/landing`` and ``out_dir/truth``."""
    if options.drift_scenario not in SCENARIOS:
        raise ValueError(
            f"unknown drift scenario {options.drift_scenario!r}; choose from {sorted(SCENARIOS)}"
        )
    months = month_range(options.start, options.months)
    truth_dir = out_dir / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    scenario = SCENARIOS[options.drift_scenario]
    (truth_dir / "drift_scenario.json").write_text(
        json.dumps(
            {**scenario.ground_truth(options.resolved_drift_from()), "seed": options.seed,
             "base_revolving_share": BASE_REVOLVING_SHARE},
            indent=2,
        ) + "\n"
    )  # fmt: skip
    counters = IdCounters()
    summaries = []
    for index, month in enumerate(months):
        started = time.perf_counter()
        tables, truth, drifted = generate_month(options, index, month, counters)
        folder = out_dir / "landing" / month
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "_SUCCESS").unlink(missing_ok=True)
        for name in TABLE_NAMES:
            write_csv(tables[name], folder / TABLES[name].file_name)
        truth.to_parquet(truth_dir / f"{month}.parquet", index=False)
        (folder / "_SUCCESS").touch()
        summary = MonthSummary(
            month=month,
            rows={name: len(tables[name]) for name in TABLE_NAMES},
            default_rate=float(truth["TARGET"].mean()),
            drifted=drifted,
            seconds=time.perf_counter() - started,
        )
        summaries.append(summary)
        if progress:
            progress(summary, index + 1, len(months))
    return summaries
