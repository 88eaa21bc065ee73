"""Shared fixtures: small generated months in temporary data dirs (nothing touches ./data)."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from filelock import FileLock

from creditplatform import local_postgres
from creditplatform.cli import main
from creditplatform.definitions import build_definitions
from creditplatform.settings import REPO_ROOT, Settings, load_settings
from creditplatform.synthetic.generate import GenerateOptions, generate_history
from creditplatform.warehouse.ingest import ingest_month
from creditplatform.warehouse.landing import land_month

SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"


# The fixtures' months hold 400-600 applications, so a test set holds a handful of defaults (4
# in ``platform_base``): the gates then ask only what an interval needs, 2 of each class. The
# minimum itself is tested with its default of 50 (test_evidence, test_decisions).
FIXTURE_MIN_DEFAULTS = "2"


# The slow tier's longest modules start first, so its two workers finish together (longest
# first is near-optimal for two workers): the daemon test alone is ~15 of the tier's ~60
# test-minutes, and started late it leaves the other worker idle at the end
# (`make test-slow PYTEST_ARGS=--durations=15` lists the durations).
LONGEST_FIRST = (
    "test_daemon_loop.py", "test_demo_closed_loop.py", "test_crash_safety.py",
    "test_production_profile.py", "test_lifecycle.py", "test_secrets.py", "test_monthly_retry.py",
)  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own data dir, so no test can read or write the repo's ./data."""
    data = tmp_path / "data"
    monkeypatch.setenv("CREDITPLATFORM_DATA_DIR", str(data))
    monkeypatch.setenv("CREDITPLATFORM_DAGSTER_STORAGE", str(data / "dagster"))
    # The MLflow store follows the data dir (Settings); a developer's own MLFLOW_TRACKING_URI
    # must not send the tests' runs to their tracking server.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("CREDITPLATFORM_GATE_MIN_DEFAULTS", FIXTURE_MIN_DEFAULTS)
    return data


@pytest.fixture(scope="session")
def small_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two generated months of 400 applications (read-only: copy before changing it)."""
    out = tmp_path_factory.mktemp("small_history")
    generate_history(out, GenerateOptions(months=2, applications_per_month=400, seed=11))
    return out


@pytest.fixture(scope="session")
def ingested_history(small_history: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``small_history`` with 2024-01 already published to the warehouse (the good state)."""
    out = tmp_path_factory.mktemp("ingested_history")
    shutil.copytree(small_history / "landing", out / "landing")
    with duckdb.connect(str(out / "warehouse.duckdb")) as con:
        result = ingest_month(con, out / "landing", "2024-01")
    assert result.published, result.failure_message()
    return out


@pytest.fixture
def data_copy(ingested_history: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the ingested history."""
    target = tmp_path / "copy"
    shutil.copytree(ingested_history, target)
    return target


def point_at(mp: pytest.MonkeyPatch, data: Path) -> None:
    """Point the CLI, Dagster and MLflow of this process (and its children) at ``data`` (the
    MLflow store follows the data dir)."""
    mp.setenv("CREDITPLATFORM_DATA_DIR", str(data))
    mp.setenv("CREDITPLATFORM_DAGSTER_STORAGE", str(data / "dagster"))
    mp.setenv("DAGSTER_HOME", str(REPO_ROOT))
    mp.setenv("CREDITPLATFORM_MIN_TRAINING_MONTHS", "2")
    mp.setenv("CREDITPLATFORM_GATE_MIN_DEFAULTS", FIXTURE_MIN_DEFAULTS)


def resources_at(data_dir: Path) -> dict:
    """The code location's resources, with the settings of the environment now, for ``data_dir``."""
    from dataclasses import replace

    from creditplatform.definitions import platform_resources

    return platform_resources(replace(load_settings(), data_dir=Path(data_dir)))


def run_drift_report(month: str) -> dg.ExecuteInProcessResult:
    """Materialise ``drift_report`` for ``month`` with the settings of the environment now."""
    defs = build_definitions(load_settings())
    with dg.DagsterInstance.get() as instance:
        return defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey("drift_report")], partition_key=month
        )


def built_once(factory: pytest.TempPathFactory, name: str, build) -> Path:
    """``build(dir)`` run once for the whole pytest run, whatever the number of xdist workers:
    the first worker builds under a file lock, the others wait and reuse the result. For
    read-only session data only (the tests copy it before changing it): each worker building
    its own ``platform_base`` cost about a minute of CPU per worker per tier."""
    base = factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    target = shared / name
    with FileLock(str(target) + ".lock"):
        if not (target / ".built").exists():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            build(target)
            (target / ".built").touch()
    return target


def _build_platform(root: Path) -> None:
    source, data = root / "source", root / "data"
    generate_history(source, GenerateOptions(months=3, applications_per_month=600, seed=5))
    with pytest.MonkeyPatch.context() as mp:
        point_at(mp, data)
        for month in ("2024-01", "2024-02"):
            land_month(source / "landing", data / "landing", month)
        assert main(["ingest"]) == 0
        assert main(["retrain"]) == 0
        assert main(["score", "--month", "2024-02"]) == 0
        assert run_drift_report("2024-02").success


@pytest.fixture(scope="session")
def platform_base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A platform mid-life (read-only: copy before changing it): 2024-01 and 2024-02 ingested,
    a champion trained on them, 2024-02 scored and drift-checked. Returns (data dir, the
    generated landing months, 2024-03 included). Built once per pytest run."""
    root = built_once(tmp_path_factory, "platform_base", _build_platform)
    return root / "data", root / "source" / "landing"


# The month of ``platform_base`` that champion v1 has scored (and the serving tests send).
PLATFORM_MONTH = "2024-02"


@pytest.fixture
def platform(platform_base, _isolated_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the mid-life platform (champion v1 has scored 2024-02), this process
    pointed at it; returns the generated landing folder of that month."""
    base, source = platform_base
    shutil.copytree(base, _isolated_data_dir)
    point_at(monkeypatch, _isolated_data_dir)
    return source / PLATFORM_MONTH


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[local_postgres.Cluster]:
    """A throwaway PostgreSQL server (Debian's package) for this test session, on 127.0.0.1 at
    a free port, stopped by its pid. Skipped where PostgreSQL is not installed, except in CI
    (``.ci/run`` installs it), where a missing server must fail the build instead."""
    try:
        local_postgres.server_bindir()
    except local_postgres.NoPostgres as missing:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(missing))
    # Not under pytest's temp root: that is private to root, and the server runs as `postgres`.
    directory = Path(tempfile.mkdtemp(prefix="creditplatform-postgres-"))
    cluster = local_postgres.start(directory)
    yield cluster
    cluster.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def production(
    postgres_cluster: local_postgres.Cluster, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """This test's process (and its children) on the production profile: new databases for
    the lake catalog, MLflow and Dagster on the session's server, Dagster's production
    instance (deploy/production), and the data dir of ``_isolated_data_dir``."""
    names = {}
    for part in ("lake", "mlflow", "dagster"):
        names[part] = f"t{uuid.uuid4().hex[:12]}_{part}"
        postgres_cluster.create_database(names[part])
    monkeypatch.setenv("CREDITPLATFORM_PROFILE", "production")
    monkeypatch.setenv("CREDITPLATFORM_POSTGRES_HOST", postgres_cluster.host)
    monkeypatch.setenv("CREDITPLATFORM_POSTGRES_PORT", str(postgres_cluster.port))
    monkeypatch.setenv("CREDITPLATFORM_POSTGRES_USER", local_postgres.SUPERUSER)
    for part, name in names.items():
        monkeypatch.setenv(f"CREDITPLATFORM_POSTGRES_{part.upper()}_DB", name)
    monkeypatch.setenv("DAGSTER_HOME", str(REPO_ROOT / "deploy" / "production"))
    return load_settings()
