"""``creditplatform``: generate or import landing data, and drive the pipeline from a terminal."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from creditplatform.months import is_month
from creditplatform.settings import REPO_ROOT, load_settings


def _month(text: str) -> str:
    if not is_month(text):
        raise argparse.ArgumentTypeError(f"expected a month as YYYY-MM, got {text!r}")
    return text


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_dagster_env() -> None:
    """Point Dagster at this repo's dagster.yaml and keep its storage inside the data dir."""
    settings = load_settings()
    if "DAGSTER_HOME" not in os.environ and (REPO_ROOT / "dagster.yaml").exists():
        os.environ["DAGSTER_HOME"] = str(REPO_ROOT)
    os.environ.setdefault("CREDITPLATFORM_DAGSTER_STORAGE", str(settings.dagster_storage_dir))
    os.environ.setdefault("CREDITPLATFORM_DATA_DIR", str(settings.data_dir))


def cmd_generate(args: argparse.Namespace) -> int:
    from creditplatform.synthetic.generate import GenerateOptions, generate_history

    options = GenerateOptions(
        months=args.months,
        start=args.start,
        applications_per_month=args.applications_per_month,
        seed=args.seed,
        drift_scenario=args.drift_scenario,
        drift_from=args.drift_from,
        unlabelled_months=args.unlabelled_months,
    )
    out = Path(args.out or load_settings().data_dir)
    started = time.perf_counter()
    _say(
        f"generating {options.months} month(s) x {options.applications_per_month:,} applications "
        f"from {options.start} (scenario {options.drift_scenario}, seed {options.seed}) into {out}"
    )

    def progress(summary, done: int, total: int) -> None:
        rows = sum(summary.rows.values())
        drift = " [drifted]" if summary.drifted else ""
        _say(
            f"  [{done}/{total}] {summary.month}: {rows:,} rows, default rate "
            f"{summary.default_rate:.3f}{drift} ({summary.seconds:.1f}s)"
        )

    summaries = generate_history(out, options, progress)
    seconds = time.perf_counter() - started
    rows = sum(sum(s.rows.values()) for s in summaries)
    apps = options.months * options.applications_per_month
    _say(
        f"done: {apps:,} applications, {rows:,} rows in {seconds:.1f}s "
        f"({apps / seconds:,.0f} applications/s, {rows / seconds:,.0f} rows/s)"
    )
    return 0


def cmd_import_kaggle(args: argparse.Namespace) -> int:
    from creditplatform.kaggle import import_kaggle

    out = Path(args.out or load_settings().data_dir)
    report = import_kaggle(Path(args.kaggle_dir), out / "landing", args.months, args.start, _say)
    _say(report.summary())
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    ensure_dagster_env()
    import dagster as dg

    from creditplatform.definitions import defs
    from creditplatform.warehouse.landing import complete_months

    months = args.month or complete_months(load_settings().landing_dir)
    if not months:
        _say(
            f"no complete month under {load_settings().landing_dir}; run `creditplatform generate`"
        )
        return 1
    job = defs.resolve_job_def("ingest_job")
    failed = []
    with dg.DagsterInstance.get() as instance:
        for month in months:
            started = time.perf_counter()
            result = job.execute_in_process(
                partition_key=month, instance=instance, raise_on_error=False
            )
            status = "ok" if result.success else "FAILED"
            _say(f"  ingest {month}: {status} ({time.perf_counter() - started:.1f}s)")
            if not result.success:
                failed.append(month)
    if failed:
        _say(f"months that failed their contracts or could not be read: {', '.join(failed)}")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="creditplatform", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write synthetic Home Credit landing months")
    gen.add_argument("--months", type=int, default=12)
    gen.add_argument("--start", type=_month, default="2024-01")
    gen.add_argument("--applications-per-month", type=int, default=25_000)
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument(
        "--drift-scenario",
        default="none",
        choices=["none", "income_shift", "product_mix", "default_rate_shift"],
    )
    gen.add_argument("--drift-from", type=_month, default=None, help="first drifted month")
    gen.add_argument(
        "--unlabelled-months", type=int, default=0, help="last N months have TARGET empty"
    )
    gen.add_argument("--out", help="data dir (default: $CREDITPLATFORM_DATA_DIR or ./data)")
    gen.set_defaults(func=cmd_generate)

    kag = sub.add_parser("import-kaggle", help="split the original Kaggle CSVs into landing months")
    kag.add_argument("--kaggle-dir", required=True)
    kag.add_argument("--months", type=int, default=12)
    kag.add_argument("--start", type=_month, default="2024-01")
    kag.add_argument("--out", help="data dir (default: $CREDITPLATFORM_DATA_DIR or ./data)")
    kag.set_defaults(func=cmd_import_kaggle)

    ing = sub.add_parser("ingest", help="materialise raw/* for landing months via Dagster")
    ing.add_argument("--month", type=_month, action="append", help="repeatable; default: all")
    ing.set_defaults(func=cmd_ingest)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
