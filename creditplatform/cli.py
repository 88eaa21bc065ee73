"""``creditplatform``: generate or import landing data, and drive the pipeline from a terminal."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from creditplatform.months import is_month
from creditplatform.provenance import describe
from creditplatform.settings import REPO_ROOT, load_settings
from creditplatform.synthetic.scenarios import SCENARIOS


def _month(text: str) -> str:
    if not is_month(text):
        raise argparse.ArgumentTypeError(f"expected a month as YYYY-MM, got {text!r}")
    return text


def _say(message: str, **fields: object) -> None:
    from creditplatform.logs import say

    say(message, **fields)


def ensure_dagster_env() -> None:
    """Point Dagster at this repo's dagster.yaml and keep its storage inside the data dir."""
    import warnings

    import dagster as dg

    for category in (dg.BetaWarning, dg.PreviewWarning):
        warnings.filterwarnings("ignore", category=category)
    settings = load_settings()
    if "DAGSTER_HOME" not in os.environ and (REPO_ROOT / "dagster.yaml").exists():
        os.environ["DAGSTER_HOME"] = str(REPO_ROOT)
    os.environ.setdefault("CREDITPLATFORM_DAGSTER_STORAGE", str(settings.dagster_storage_dir))
    os.environ.setdefault("CREDITPLATFORM_DATA_DIR", str(settings.data_dir))
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def quiet_third_party_logs() -> None:
    """Our timeline, not MLflow's INFO/WARNING chatter (environment detection, pip version,
    database migrations); errors still show. MLflow sets its own level when it is first
    imported, so it is told through its environment variable as well."""
    import logging

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic", "git"):
        logging.getLogger(name).setLevel(logging.ERROR)


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


def _runner():
    """The real instance in DAGSTER_HOME and the code location for the current data dir."""
    ensure_dagster_env()
    import dagster as dg

    from creditplatform.definitions import build_definitions
    from creditplatform.defs.run_health import reap_dead_runs
    from creditplatform.pipeline import Runner

    settings = load_settings()
    instance = dg.DagsterInstance.get()
    quiet_third_party_logs()
    for run_id in reap_dead_runs(instance):
        _say(f"  run {run_id[:8]} had lost its process (killed?): marked failed")
    return settings, Runner(build_definitions(settings), instance, _say)


def _ingest(runner, months: list[str]) -> list[str]:
    return [
        m for m in months if not runner.run("ingest_job", f"ingest {m}", partition_key=m).success
    ]


def cmd_land(args: argparse.Namespace) -> int:
    """Drop generated months into the landing folder one at a time, for the daemon to pick up."""
    from creditplatform.warehouse.landing import complete_months, land_month

    settings = load_settings()
    source = Path(args.source)
    months = args.month or complete_months(source)
    if not months:
        _say(f"no complete month under {source}")
        return 1
    for index, month in enumerate(months):
        if index and args.interval:
            time.sleep(args.interval)
        land_month(source, settings.landing_dir, month)
        _say(f"[{index + 1}/{len(months)}] {month} landed in {settings.landing_dir}")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from creditplatform.defs.partitions import monthly_partitions
    from creditplatform.warehouse.landing import landing_inventory

    settings, runner = _runner()
    keys = set(monthly_partitions.get_partition_keys())
    inventory = landing_inventory(settings.landing_dir, keys)
    if warning := inventory.warning():
        _say(f"warning: {warning}")
    outside = [m for m in args.month or [] if m not in keys]
    if outside:
        _say(f"warning: outside the partition range, not ingested: {', '.join(outside)}")
    months = [m for m in args.month if m in keys] if args.month else inventory.months
    if not months:
        if not outside:
            _say(f"no complete month under {settings.landing_dir}; run `creditplatform generate`")
        return 1
    failed = _ingest(runner, months)
    if failed:
        _say(f"months that failed their contracts or could not be read: {', '.join(failed)}")
    return 1 if failed or outside else 0


def cmd_retrain(args: argparse.Namespace) -> int:
    from creditplatform.ml.records import ModelParams

    try:
        params = ModelParams.overrides(args.param)
    except ValueError as err:
        _say(str(err))
        return 2
    ops = {"candidate_model": {"config": params}} if params else {}
    if args.window_months:
        ops["training_splits"] = {"config": {"window_months": args.window_months}}
    tags = {"creditplatform/trigger": args.trigger}
    if args.reason:
        tags["creditplatform/reason"] = args.reason
    _, runner = _runner()
    result = runner.run("retrain_job", "retrain", run_config={"ops": ops}, tags=tags)
    if result.success:
        decision = result.output_for_node("registry_promotion")
        _say(
            f"  model v{decision['version']} {decision['decision']}: "
            + "; ".join(decision["reasons"])
        )
    return 0 if result.success else 1


def cmd_promote(args: argparse.Namespace) -> int:
    _, runner = _runner()
    action = "reject" if args.reject else "rollback" if args.rollback else "promote"
    config = {"action": action, "version": args.reject or args.version, "reason": args.reason}
    result = runner.run(
        "manual_promotion_job",
        f"{config['action']} v{config['version']}",
        run_config={"ops": {"set_champion": {"config": config}}},
    )
    return 0 if result.success else 1


def cmd_rollout(args: argparse.Namespace) -> int:
    """The canary now (``rollout_job``), as ``canary_sensor`` runs it after new shadow scores."""
    _, runner = _runner()
    result = runner.run("rollout_job", "canary")
    if result.success:
        materialization = result.asset_materializations_for_node("champion_rollout")[0]
        meta = materialization.metadata
        _say(f"  canary: {meta['status'].value}")
        for reason in meta["reasons"].value if "reasons" in meta else []:
            _say(f"    {reason}")
    return 0 if result.success else 1


def cmd_score(args: argparse.Namespace) -> int:
    from creditplatform.warehouse.landing import complete_months

    settings, runner = _runner()
    months = args.month or complete_months(settings.landing_dir)
    failed = [
        m for m in months if not runner.run("score_job", f"score {m}", partition_key=m).success
    ]
    return 1 if failed else 0


def cmd_status(args: argparse.Namespace) -> int:

    from creditplatform.ml.registry import Registry
    from creditplatform.status import render, status

    ensure_dagster_env()
    import dagster as dg

    from creditplatform.defs.run_health import reap_dead_runs

    settings = load_settings()
    with dg.DagsterInstance.get() as instance:
        reap_dead_runs(instance)
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"creditplatform/trigger": "drift"}))
        months = {
            run.tags["creditplatform/month"] for run in runs if "creditplatform/month" in run.tags
        }
        statuses = _month_statuses(instance, settings)
    registry = Registry.for_settings(settings)
    report = status(settings, registry, months, month_statuses=statuses)
    print(json.dumps(report, indent=2, default=str) if args.json else render(report))
    return 0


def _month_statuses(instance, settings) -> tuple[list[str], dict[str, dict[str, str | None]]]:
    """Landed months and each monthly asset's Dagster partition status for them."""
    import dagster as dg

    from creditplatform.defs.partitions import monthly_partitions
    from creditplatform.status import MONTHLY_ASSETS
    from creditplatform.warehouse.landing import landing_inventory

    landed = landing_inventory(
        settings.landing_dir, set(monthly_partitions.get_partition_keys())
    ).months
    # The seven raw tables materialise together; raw/application stands for the month.
    keys = {a: dg.AssetKey(["raw", "application"] if a == "raw" else [a]) for a in MONTHLY_ASSETS}
    statuses = {}
    for asset, key in keys.items():
        found = instance.get_status_by_partition(key, landed, monthly_partitions) or {}
        statuses[asset] = {m: (s.value if s is not None else None) for m, s in found.items()}
    return landed, statuses


def _month_facts(settings, registry, month: str, seen: int) -> tuple[float | None, list[str], str]:
    """The month's max PSI, the decisions made since ``seen`` and why drift persists (if it
    does), for the demo's timeline."""

    from creditplatform.months import reference_months
    from creditplatform.status import describe_episode, drift_episode, warehouse_facts

    with settings.warehouse.connect(read_only=True) as con:
        history, _, drift = warehouse_facts(con)
    psi = next((row["max_psi"] for row in drift if row["month"] == month), None)
    decisions = [f"v{d['version']} {d['decision']} ({d['trigger']})" for d in history[seen:]]
    champion = registry.champion()
    window = champion.tags.get("window", "").split(",") if champion else []
    episode = drift_episode(
        drift, reference_months(window, settings.drift_reference_months), history,
        settings.drift_psi_threshold, settings.drift_cooldown_hours,
    )  # fmt: skip
    return psi, decisions, describe_episode(episode)


def _approve_held(settings, runner, registry) -> list[str]:
    """The demo's risk officer: a challenger the canary held is reviewed and approved by hand
    (``creditplatform promote --version N --reason …``), the way a person closes the hold."""
    from creditplatform.ml.promotion import current_challenger
    from creditplatform.status import warehouse_facts

    challenger = current_challenger(registry)
    if challenger is None:
        return []
    with settings.warehouse.connect(read_only=True) as con:
        held = [d for d in warehouse_facts(con)[0]
                if (d["version"], d["decision"]) == (challenger, "held")]  # fmt: skip
    if not held:
        return []
    figures = "; ".join(json.loads(held[-1]["reasons"])[1:])
    reason = (f"demo risk officer: reviewed the canary figures of v{challenger} ({figures}); "
              "the shift follows the drift the monitors reported; approved")  # fmt: skip
    config = {"action": "promote", "version": challenger, "reason": reason}
    label = f"approve held v{challenger}"
    runner.run("manual_promotion_job", label,
               run_config={"ops": {"set_champion": {"config": config}}})  # fmt: skip
    return [label]


def cmd_demo(args: argparse.Namespace) -> int:
    import shutil

    from creditplatform import clock
    from creditplatform.pipeline import ClosedLoop, reset_data_dir
    from creditplatform.synthetic.generate import GenerateOptions, generate_history
    from creditplatform.warehouse.landing import land_month

    settings = load_settings()
    if args.reset and settings.production:
        _say(
            "--reset clears the data dir only: on the production profile the lake catalog, "
            "MLflow and Dagster databases would still name its files. Start from new databases "
            "(make run PROFILE=production does) and run the demo without --reset."
        )
        return 2
    if args.reset:
        reset_data_dir(settings)
    elif (settings.data_dir / "landing").exists():
        _say(f"{settings.data_dir} already holds data: pass --reset to start the demo afresh")
        return 2
    options = GenerateOptions(
        months=args.months,
        applications_per_month=args.applications_per_month,
        drift_scenario=args.scenario,
        seed=args.seed,
    )
    incoming = settings.data_dir / "incoming"
    _say(
        f"generating {args.months} months x {args.applications_per_month:,} applications "
        f"(scenario {args.scenario}, drift from {options.resolved_drift_from() or 'never'})"
    )
    started = time.perf_counter()
    generate_history(incoming, options)
    shutil.copytree(incoming / "truth", settings.truth_dir, dirs_exist_ok=True)
    months = sorted(p.name for p in (incoming / "landing").iterdir())
    # The simulated clock first stands where the data ends, so the partition range (read when
    # the code loads, next) holds every month; each month then sets it to its own due date.
    clock.set_simulated(settings.data_dir, clock.due_date(months[-1], settings.raw_due_day))
    settings, runner = _runner()
    registry = runner.defs.resources["mlflow_tracking"].registry()
    loop = ClosedLoop(runner, settings)
    # A held challenger is approved as soon as the canary holds it, before the monitors tick.
    loop.after_canary = lambda: _approve_held(settings, runner, registry)
    timeline, decisions_seen = [], 0
    for index, month in enumerate(months, start=1):
        today = clock.due_date(month, settings.raw_due_day)
        clock.set_simulated(settings.data_dir, today)
        _say(f"[{index}/{len(months)}] {month} lands (clock: {today.date().isoformat()})")
        land_month(incoming / "landing", settings.landing_dir, month)
        runs = loop.month()
        psi, decisions, why = _month_facts(settings, registry, month, decisions_seen)
        skipped = loop.skips.get("drift_retrain_sensor", "")
        if why and not decisions and f"{month}: " in skipped:
            # The drift rule's own words: which condition held the retrain back, and by how much.
            why += "; " + skipped[skipped.index(f"{month}: ") + len(month) + 2 :].split("; ")[0]
        decisions_seen += len(decisions)
        champion = registry.champion()
        champion_version = int(champion.version) if champion else None
        timeline.append((month, len(runs), psi, decisions, champion_version, why))
    if settled := loop.settle():
        _say(f"settled: {', '.join(settled)}")
    _say("\nmonth    | runs | max PSI | decisions                                  | champion")
    for month, count, psi, decisions, champion_version, why in timeline:
        psi_text = "   -   " if psi is None else f"{psi:7.3f}"
        made = "; ".join(decisions) or "-"
        _say(f"{month}  | {count:>4} | {psi_text} | {made:<42} | {champion_version or '-'}")
        if why:
            _say(f"         |      |         | {why}")
    seconds = time.perf_counter() - started
    _say(f"\ndemo: {seconds:.0f} s for {len(months)} months, generation included")
    cmd_status(argparse.Namespace(json=False))
    uri = settings.mlflow_tracking_uri
    mlflow_ui = uri if uri.startswith("http") else f".venv/bin/mlflow ui --backend-store-uri {uri}"
    ui = "make ui PROFILE=production" if settings.production else "make ui"
    _say(
        f"\nwhere to look next:\n  {ui}  → http://127.0.0.1:3000 (runs, checks, lineage)\n"
        f"  reports: {settings.reports_dir}/evaluation, {settings.reports_dir}/drift\n"
        f"  alerts:  {settings.reports_dir / 'alerts.jsonl'}\n"
        f"  MLflow:  {mlflow_ui}"
    )
    return 0


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def cmd_serve(args: argparse.Namespace) -> int:
    """The online scoring API on the loopback interface, logging one JSON line per event.

    Callers need an API key (``serve-keys``). With no key yet, the first start creates an
    admin key named ``local`` and prints it once to the terminal (never to the JSON log), so
    the service still runs in one command; ``--insecure-local`` serves without keys, on a
    loopback address only.
    """
    # One native thread per pass: the service runs its own scoring threads, and OpenMP or BLAS
    # pools sized to the machine on top of them only contend for the same cores.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import uvicorn

    from creditplatform.logs import json_logging
    from creditplatform.serving.api_keys import KeyStore
    from creditplatform.serving.app import create_app

    quiet_third_party_logs()
    settings = load_settings()
    host = args.host or settings.serve_host
    if args.insecure_local and host not in LOOPBACK:
        print(f"--insecure-local serves only on a loopback address, not {host}", file=sys.stderr)
        return 2
    store = KeyStore(settings.api_keys_path)
    if not args.insecure_local and not store.entries():
        key = store.create("local", admin=True)
        print(
            "No API key existed: created admin key 'local' (shown once, stored hashed):\n"
            f"  Authorization: Bearer {key}\n"
            "More keys: creditplatform serve-keys create NAME [--admin]",
            file=sys.stderr,
        )
    json_logging()
    uvicorn.run(
        create_app(settings, insecure_local=args.insecure_local),
        host=host,
        port=settings.serve_port if args.port is None else args.port,
        log_config=None,
        access_log=False,  # the app logs each request itself, with its request id and model
    )
    return 0


def cmd_serve_keys(args: argparse.Namespace) -> int:
    """Create (printed once), revoke or list the scoring service's API keys."""
    from creditplatform.serving.api_keys import KeyProblem, KeyStore

    store = KeyStore(load_settings().api_keys_path)
    try:
        if args.action == "create":
            print(store.create(args.name, admin=args.admin))
        elif args.action == "revoke":
            store.revoke(args.name)
            print(f"revoked {args.name}")
        else:
            for key in store.entries():
                print(f"{key.name}\t{','.join(key.scopes)}\t{key.created}")
    except KeyProblem as err:
        print(f"serve-keys: {err}", file=sys.stderr)
        return 2
    return 0


def cmd_online_drift(args: argparse.Namespace) -> int:
    """Drift of the applicants the service scored, judged like a month of landing files."""
    import json
    from datetime import datetime

    from creditplatform.ml.registry import NoChampion
    from creditplatform.serving.online_drift import online_drift

    quiet_third_party_logs()
    since = datetime.fromisoformat(args.since).astimezone() if args.since else None
    try:
        found = online_drift(load_settings(), since)
    except NoChampion as err:
        _say(str(err))
        return 2
    if args.json:
        print(json.dumps(found.as_dict(), indent=2))
        return 0
    if not found.applicants:
        _say(f"no applicant scored online by champion v{found.champion_version} yet")
        return 0
    _say(
        f"online traffic{f' since {found.since}' if found.since else ''}: {found.applicants} "
        f"applicant(s) scored by v{found.champion_version}, against its reference "
        f"{', '.join(found.reference_months)} ({found.reference_rows} rows)\n"
        f"  max PSI {found.max_psi:.3f} ({found.max_psi_feature}); "
        f"{len(found.drifted_features)} feature(s) >= {found.psi_threshold}; "
        f"prediction KS p = {found.prediction_ks_pvalue:.3g}\n"
        f"  feature drift: {'yes' if found.drifted_features else 'no'}; prediction drift: "
        f"{'yes' if found.prediction_drift else 'no'} (p below {found.prediction_pvalue})"
    )
    return 0


def cmd_example_request(args: argparse.Namespace) -> int:
    """Print one landed applicant as a /v1/score request body (for curl and for trying out)."""
    import json

    from creditplatform.serving.examples import landing_requests

    folder = load_settings().landing_dir / args.month
    if not folder.is_dir():
        _say(f"no landing folder {folder}")
        return 2
    requests = landing_requests(folder, limit=args.index + 1)
    if len(requests) <= args.index:
        _say(f"{folder} has only {len(requests)} applications")
        return 2
    print(json.dumps(requests[args.index], indent=args.indent))
    return 0


class _Version(argparse.Action):
    """``--version``, asking git for the commit only when it is given (not on every command)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(describe())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="creditplatform", description=__doc__)
    parser.add_argument("--version", action=_Version, nargs=0, help="version and commit")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write synthetic Home Credit landing months")
    gen.add_argument("--months", type=int, default=12)
    gen.add_argument("--start", type=_month, default="2024-01")
    gen.add_argument("--applications-per-month", type=int, default=25_000)
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument(
        "--drift-scenario",
        default="none",
        choices=sorted(SCENARIOS),
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

    land = sub.add_parser(
        "land", help="copy months into landing/ one at a time (files, then _SUCCESS)"
    )
    land.add_argument(
        "--source", required=True, help="a landing folder, e.g. data/incoming/landing"
    )
    land.add_argument("--month", type=_month, action="append", help="repeatable; default: all")
    land.add_argument("--interval", type=float, default=0.0, help="seconds between months")
    land.set_defaults(func=cmd_land)

    ing = sub.add_parser("ingest", help="materialise raw/* for landing months via Dagster")
    ing.add_argument("--month", type=_month, action="append", help="repeatable; default: all")
    ing.set_defaults(func=cmd_ingest)

    ret = sub.add_parser("retrain", help="run retrain_job: splits, model, evaluation, promotion")
    ret.add_argument("--trigger", default="manual", help="recorded in MLflow and the audit trail")
    ret.add_argument("--reason", default="", help="why a person asks: in MLflow and the audit")
    ret.add_argument(
        "--window-months",
        type=int,
        default=0,
        help="train on the latest N matured months (default: the setting)",
    )
    ret.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="a model hyper-parameter for this run (repeatable), e.g. "
                     "learning_rate=0.1; recorded in MLflow and the audit")  # fmt: skip
    ret.set_defaults(func=cmd_retrain)

    pro = sub.add_parser(
        "promote", help="make a version champion by hand, e.g. approve a held challenger, or "
        "reject the challenger (manual_promotion_job, audited)",
    )  # fmt: skip
    which = pro.add_mutually_exclusive_group(required=True)
    which.add_argument("--version", type=int, help="the version to make champion")
    which.add_argument("--reject", type=int, metavar="N",
                       help="drop challenger N from the shadow; the champion stays")  # fmt: skip
    pro.add_argument("--reason", required=True, help="why (kept in the audit trail)")
    pro.add_argument("--rollback", action="store_true", help="record it as a rollback")
    pro.set_defaults(func=cmd_promote)

    rol = sub.add_parser(
        "rollout", help="run the canary on the challenger's shadow scores now (rollout_job)"
    )
    rol.set_defaults(func=cmd_rollout)

    sco = sub.add_parser("score", help="score landed months with the champion (score_job)")
    sco.add_argument("--month", type=_month, action="append", help="repeatable; default: all")
    sco.set_defaults(func=cmd_score)

    sta = sub.add_parser("status", help="champion, decisions, drift and freshness")
    sta.add_argument("--json", action="store_true")
    sta.set_defaults(func=cmd_status)

    srv = sub.add_parser("serve", help="the online scoring API (FastAPI on 127.0.0.1)")
    srv.add_argument("--port", type=int, help="default: settings serve_port (8000)")
    srv.add_argument("--host", help="default: settings serve_host (127.0.0.1)")
    srv.add_argument(
        "--insecure-local", action="store_true", help="no API keys; loopback addresses only"
    )
    srv.set_defaults(func=cmd_serve)

    keys = sub.add_parser("serve-keys", help="API keys of the scoring service")
    key_actions = keys.add_subparsers(dest="action", required=True)
    create = key_actions.add_parser("create", help="a new key, printed once")
    create.add_argument("name")
    create.add_argument("--admin", action="store_true", help="may also call /admin/*")
    revoke = key_actions.add_parser("revoke", help="the key stops working at once")
    revoke.add_argument("name")
    key_actions.add_parser("list", help="names, scopes, created (never the keys)")
    keys.set_defaults(func=cmd_serve_keys)

    odr = sub.add_parser("online-drift", help="drift of the applicants the service scored")
    odr.add_argument("--since", help="ISO date or time; default: everything logged")
    odr.add_argument("--json", action="store_true")
    odr.set_defaults(func=cmd_online_drift)

    exa = sub.add_parser("example-request", help="one landed applicant as a /v1/score body")
    exa.add_argument("--month", type=_month, required=True)
    exa.add_argument("--index", type=int, default=0, help="which application of the month")
    exa.add_argument("--indent", type=int, default=None)
    exa.set_defaults(func=cmd_example_request)

    demo = sub.add_parser("demo", help="generate data and run the whole pipeline (make run)")
    demo.add_argument("--months", type=int, default=18)
    demo.add_argument("--applications-per-month", type=int, default=5000)
    demo.add_argument("--scenario", default="none", choices=sorted(SCENARIOS))
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--reset", action="store_true", help="delete generated state first")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
