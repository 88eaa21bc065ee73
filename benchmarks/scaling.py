"""How cost grows: the whole graph at several multiples of Home Credit scale, stage by stage.

For each factor, ``months`` months of ``applications-per-month x factor`` applications are
generated and run through the whole graph exactly as ``benchmarks.scale`` runs it (local profile,
one process, every check; ``benchmarks.graph_run``), recording each stage's wall seconds and the
peak RSS of the process tree while it ran, and the rows the ingest published. Then, per stage:

- the least-squares line through the points, wall seconds against millions of landed rows: the
  **slope** is what a further million rows costs, the intercept the fixed cost (Dagster runs,
  start-up);
- the **growth** of what a million rows add, from the first step between factors to the last
  (needs three factors or more): 1.0 is linear; a stage above ``NOT_LINEAR`` has stopped being
  linear, and the one with the largest growth is named first (stages under ``MIN_SHARE`` of the
  whole graph at the largest factor are too small to judge: their steps are noise);
- the peak RSS at each factor and its slope (GB per million rows), against the machine's RAM.

Not in CI (hours at 4x on two cores): ``make bench-scaling``.

    python -m benchmarks.scaling --factors 1,2,4 --months 12 --applications-per-month 25626
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.common import machine, write_results
from benchmarks.scale import environment, generate_months, graph, published_rows
from creditplatform.months import month_range
from creditplatform.settings import load_settings

# What a million rows add growing by more than this from the first step to the last: the stage
# is not linear. A quarter: run-to-run variation on this machine is ~10-20% a stage.
NOT_LINEAR = 1.25
# Stages taking less of the whole graph than this at the largest factor are not judged.
MIN_SHARE = 0.05
WHOLE = "whole graph"


def growth(points: list[tuple[float, float]]) -> dict[str, float | None]:
    """Line through (million rows, seconds) points, by rows: slope and intercept, and the growth
    of the marginal cost (seconds per added million rows) from the first step to the last."""
    rows = np.array([p[0] for p in points], dtype=np.float64)
    seconds = np.array([p[1] for p in points], dtype=np.float64)
    slope, intercept = np.polyfit(rows, seconds, 1)
    marginal = np.diff(seconds) / np.diff(rows)
    grows = len(marginal) >= 2 and marginal[0] > 0
    return {
        "slope_s_per_million_rows": round(float(slope), 3),
        "intercept_s": round(float(intercept), 2),
        "marginal_growth": round(float(marginal[-1] / marginal[0]), 2) if grows else None,
    }


def analyse(points: dict[str, list[dict]]) -> dict:
    """Per stage: the fit of its wall seconds and of its peak RSS against landed rows; and the
    stage that stops being linear first (None when every judged stage stays within
    ``NOT_LINEAR``, or with fewer than three factors)."""
    stages = {}
    for stage, found in points.items():
        found = sorted(found, key=lambda p: p["landed_rows"])
        rows = [p["landed_rows"] / 1e6 for p in found]
        fit = growth(list(zip(rows, [p["wall_s"] for p in found], strict=True)))
        memory = np.polyfit(rows, [p["peak_rss_gb"] for p in found], 1)[0]
        stages[stage] = {**fit, "rss_gb_per_million_rows": round(float(memory), 4),
                         "wall_s": [p["wall_s"] for p in found],
                         "peak_rss_gb": [p["peak_rss_gb"] for p in found]}  # fmt: skip
    parts = {name: fit for name, fit in stages.items() if name != WHOLE}
    total = stages[WHOLE]["wall_s"][-1] if WHOLE in stages else sum(
        fit["wall_s"][-1] for fit in parts.values()
    )  # fmt: skip
    judged = {
        name: fit["marginal_growth"]
        for name, fit in parts.items()
        if fit["marginal_growth"] is not None and fit["wall_s"][-1] >= MIN_SHARE * total
    }
    worst = max(judged, key=lambda name: judged[name], default=None)
    first = worst if worst is not None and judged[worst] > NOT_LINEAR else None
    return {"stages": stages, "first_not_linear": first}


def run(factors: list[int], months: int, applications: int, seed: int, workdir: Path) -> dict:
    points: dict[str, list[dict]] = {}
    runs = []
    for factor in factors:
        data_dir = workdir / f"x{factor}"
        env = environment(data_dir)
        generated = generate_months(data_dir, months, applications * factor, seed, env)
        summary, stages, _ = graph(month_range("2024-01", months), env)
        rows = published_rows(replace(load_settings(), data_dir=data_dir).warehouse_path)
        runs.append({"factor": factor, "applications": applications * factor * months,
                     "landed_rows": rows, "generate_s": round(generated.wall_s, 1),
                     **summary, "stages": stages})  # fmt: skip
        for name, stage in {**stages, WHOLE: {
            "wall_s": summary["total_wall_s"], "peak_rss_gb": summary["peak_rss_gb"]
        }}.items():  # fmt: skip
            points.setdefault(name, []).append({**stage, "landed_rows": rows})
        shutil.rmtree(data_dir, ignore_errors=True)  # 4x is ~12 GB of CSV and warehouse
    return {"months": months, "applications_per_month": applications, "runs": runs,
            **analyse(points)}  # fmt: skip


def markdown(result: dict) -> str:
    runs = result["runs"]
    header = " | ".join(f"{r['factor']}x: s / GB" for r in runs)
    lines = [
        f"## How cost grows ({result['months']} months; "
        + ", ".join(f"{r['factor']}x = {r['applications']:,} applications, "
                    f"{r['landed_rows']:,} landed rows" for r in runs)
        + ")",
        "",
        f"| stage | {header} | s per million rows | fixed s | what a million rows add, "
        "last step / first | GB per million rows |",
        "|---|" + "---|" * (len(runs) + 4),
    ]  # fmt: skip
    for name, fit in result["stages"].items():
        cells = " | ".join(
            f"{s} / {gb}" for s, gb in zip(fit["wall_s"], fit["peak_rss_gb"], strict=True)
        )
        grown = "—" if fit["marginal_growth"] is None else fit["marginal_growth"]
        lines.append(
            f"| {name} | {cells} | {fit['slope_s_per_million_rows']} | {fit['intercept_s']} | "
            f"{grown} | {fit['rss_gb_per_million_rows']} |"
        )
    first = result["first_not_linear"]
    ram = machine()["ram_gb"]
    peak = max(r["peak_rss_gb"] for r in runs)
    lines += [
        "",
        (f"First stage to stop being linear: **{first}** (what a million rows add grew "
         f"{result['stages'][first]['marginal_growth']}x from the first step to the last, more "
         f"than {NOT_LINEAR}x)." if first else
         f"No stage judged non-linear (growth within {NOT_LINEAR}x; judged: three factors or "
         f"more, stages over {MIN_SHARE:.0%} of the whole graph)."),
        f"Peak RSS of the whole graph at {runs[-1]['factor']}x: {peak} GB of {ram} GB RAM.",
    ]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--factors", default="1,2,4")
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--applications-per-month", type=int, default=25_626)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--name", default="scaling")
    args = parser.parse_args()
    factors = sorted(int(f) for f in args.factors.split(","))
    with tempfile.TemporaryDirectory(prefix="creditplatform-scaling-") as tmp:
        result = run(factors, args.months, args.applications_per_month, args.seed, Path(tmp))
    text = markdown(result)
    json_path, md_path = write_results(args.name, result, text)
    print(text)
    print(f"\nwritten: {json_path} {md_path}")


if __name__ == "__main__":
    main()
