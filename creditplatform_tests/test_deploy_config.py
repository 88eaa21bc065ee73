"""The Kubernetes deployment (deploy/kubernetes) is configuration the code must agree with:
one image everywhere, at the package's version; settings variables the code reads; Dagster's
and MLflow's PostgreSQL URLs naming psycopg2; the `warehouse` pool; the shared volume paths."""

from __future__ import annotations

import tomllib
from dataclasses import fields

import pytest
import yaml

from creditplatform.defs.resources import WAREHOUSE_POOL
from creditplatform.settings import REPO_ROOT, Settings, load_settings

K8S = REPO_ROOT / "deploy" / "kubernetes"
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def _docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    (configmap,) = _docs("configmap.yaml")
    return configmap["data"]


@pytest.fixture(scope="module")
def values() -> dict:
    (found,) = _docs("dagster-values.yaml")
    return found


@pytest.fixture(scope="module")
def mlflow_container() -> dict:
    deployment = next(d for d in _docs("mlflow.yaml") if d["kind"] == "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_every_variable_is_a_setting_and_selects_production(env, monkeypatch):
    known = {f"CREDITPLATFORM_{f.name.upper()}" for f in fields(Settings)}
    assert set(env) - known == {"MLFLOW_TRACKING_URI"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()  # types parse, the profile is valid
    assert settings.production and settings.warehouse.is_lake
    assert settings.warehouse.lake_data_path == "/shared/lake/"
    assert str(settings.mlflow_artifacts) == "/shared/mlflow-artifacts"
    assert settings.mlflow_tracking_uri == env["MLFLOW_TRACKING_URI"]


def test_one_image_at_the_package_version(values, mlflow_container):
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    image = deployment["image"]
    version = PYPROJECT["project"]["version"]
    assert image["tag"] == version
    assert mlflow_container["image"] == f"{image['repository']}:{version}"
    # Every venv `make` creates is compiled, as the image's is (UV_COMPILE_BYTECODE, below).
    assert "sync --frozen --compile-bytecode" in (REPO_ROOT / "Makefile").read_text()


def test_code_location_settings_and_volume_reach_every_pod(values):
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    module = PYPROJECT["tool"]["dagster"]["module_name"]
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", module]
    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    for pod in (deployment, launcher["config"]["k8sRunLauncher"]):
        assert {"name": "creditplatform-env"} in pod["envConfigMaps"]
        assert {"name": "creditplatform-postgres"} in pod["envSecrets"]
        assert {"name": "shared", "mountPath": "/shared"} in pod["volumeMounts"]


def test_dagster_on_postgres_with_psycopg2_queued_runs_and_the_warehouse_pool(values, env):
    pg = values["postgresql"]
    assert pg["enabled"] is False and pg["postgresqlScheme"] == "postgresql+psycopg2"
    assert pg["postgresqlHost"] == env["CREDITPLATFORM_POSTGRES_HOST"]
    assert pg["postgresqlDatabase"] == env["CREDITPLATFORM_POSTGRES_DAGSTER_DB"]
    assert str(pg["service"]["port"]) == env["CREDITPLATFORM_POSTGRES_PORT"]
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"
    pools = values["concurrency"]["pools"]
    assert pools["granularity"] == "op" and pools["defaultLimit"] >= 1
    # The pool the chart limits is the one the code's warehouse steps declare, the same as the
    # production instance on one machine.
    local = yaml.safe_load((REPO_ROOT / "deploy" / "production" / "dagster.yaml").read_text())
    assert local["concurrency"]["pools"]["granularity"] == "op"
    assert WAREHOUSE_POOL in (K8S / "dagster-values.yaml").read_text()


def test_mlflow_server_on_postgres_with_shared_artifacts(mlflow_container, env):
    args = dict(a.removeprefix("--").split("=", 1) for a in mlflow_container["args"] if "=" in a)
    assert mlflow_container["command"] == ["mlflow", "server"]
    assert args["workers"] == "1"
    uri = args["backend-store-uri"]
    assert uri.startswith("postgresql+psycopg2://")
    assert uri.endswith("@$(CREDITPLATFORM_POSTGRES_HOST):$(CREDITPLATFORM_POSTGRES_PORT)/"
                        "$(CREDITPLATFORM_POSTGRES_MLFLOW_DB)")  # fmt: skip
    root = env["CREDITPLATFORM_MLFLOW_ARTIFACT_ROOT"]
    assert args["default-artifact-root"] == args["artifacts-destination"] == root
    assert {"name": "shared", "mountPath": "/shared"} in mlflow_container["volumeMounts"]
    assert env["MLFLOW_TRACKING_URI"].endswith(":5000")


def test_profile_urls_name_psycopg2_quote_the_login_and_hold_no_password(monkeypatch):
    monkeypatch.setenv("CREDITPLATFORM_PROFILE", "production")
    monkeypatch.setenv("CREDITPLATFORM_POSTGRES_USER", "risk@team")
    monkeypatch.setenv("PGPASSWORD", "p@ss:w/rd")  # libpq's, read when it connects
    settings = load_settings()
    url = settings.postgres_url("db")
    assert url == "postgresql+psycopg2://risk%40team@127.0.0.1:5432/db"
    assert settings.mlflow_tracking_uri == settings.postgres_url("creditplatform_mlflow")
    assert "password" not in settings.warehouse.lake_catalog
    assert "p@ss" not in repr(settings)
    # The variable that used to put the password in these strings is refused, saying why.
    monkeypatch.setenv("CREDITPLATFORM_POSTGRES_PASSWORD", "p@ss:w/rd")
    with pytest.raises(ValueError, match="no longer read: give the PostgreSQL password as PGPA"):
        load_settings()
    monkeypatch.delenv("CREDITPLATFORM_POSTGRES_PASSWORD")
    monkeypatch.setenv("CREDITPLATFORM_PROFILE", "staging")
    with pytest.raises(ValueError, match="expected one of local, production"):
        load_settings()


def test_the_local_profile_keeps_the_embedded_stores():
    settings = load_settings()
    assert not settings.production and not settings.warehouse.is_lake
    assert settings.mlflow_tracking_uri.startswith("sqlite:///")
