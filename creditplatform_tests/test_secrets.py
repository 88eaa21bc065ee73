"""The PostgreSQL password of the production profile is never displayed, stored or logged.

A real server requires a password (SCRAM) of the role the platform logs in as; the password is
a marker given only as ``PGPASSWORD``, which libpq reads when it connects (psycopg2 under
Dagster and MLflow, DuckDB's PostgreSQL extension for the lake's catalog). After ingest, a
retrain and ``status --json``, the marker is in none of: the serialized definitions (what the
UI shows), the UI's resource page (GraphQL of a real ``dagster dev``), anything Dagster or
MLflow stored (a ``pg_dump`` of their databases and of the lake's catalog), any file under the
data dir (``logs/runs.jsonl``, compute logs, artifacts, reports), ``status --json``; and when
the password is wrong, the error printed names the failure, not the password.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import uuid

import pytest
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value

from creditplatform.definitions import build_definitions
from creditplatform.settings import REPO_ROOT, Settings, load_settings
from creditplatform.warehouse.landing import land_month
from creditplatform_tests.dagster_dev import dagster_dev

RESOURCES = """
query Resources($selector: RepositorySelector!) {
  allTopLevelResourceDetailsOrError(repositorySelector: $selector) {
    __typename
    ... on ResourceDetailsList { results { name configuredValues { key value } } }
  }
}
"""


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "creditplatform.cli", *args], env=env or dict(os.environ),
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=900, check=False,
    )  # fmt: skip


def _resource_page(base_url: str) -> dict:
    selector = {"repositoryLocationName": "creditplatform", "repositoryName": "__repository__"}
    body = json.dumps({"query": RESOURCES, "variables": {"selector": selector}}).encode()
    request = urllib.request.Request(
        f"{base_url}/graphql", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.loads(answer.read())["data"]["allTopLevelResourceDetailsOrError"]


@pytest.mark.slow
def test_the_postgres_password_is_nowhere_to_be_seen(
    production: Settings, postgres_cluster, small_history, tmp_path, monkeypatch
):
    marker = f"Marker-{uuid.uuid4().hex}"
    user = f"risk_{uuid.uuid4().hex[:8]}"
    postgres_cluster.add_password_login(user, marker)
    monkeypatch.setenv("CREDITPLATFORM_POSTGRES_USER", user)
    monkeypatch.setenv("PGPASSWORD", marker)
    monkeypatch.setenv("CREDITPLATFORM_MIN_TRAINING_MONTHS", "2")
    settings = load_settings()
    for month in ("2024-01", "2024-02"):
        land_month(small_history / "landing", settings.landing_dir, month)
    for command in (["ingest"], ["retrain"]):
        done = _cli(*command)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert marker not in done.stdout + done.stderr
    status = _cli("status", "--json")
    assert status.returncode == 0, status.stderr[-3000:]
    assert json.loads(status.stdout)["champion"]["version"] == 1
    assert marker not in status.stdout + status.stderr

    snapshot = serialize_value(
        RepositorySnap.from_def(build_definitions(settings).get_repository_def())
    )
    assert settings.postgres_user in snapshot and marker not in snapshot
    with dagster_dev(dict(os.environ), tmp_path / "dagster_dev.log") as url:
        page = _resource_page(url)
    assert page["__typename"] == "ResourceDetailsList"
    values = {r["name"]: {v["key"]: v["value"] for v in r["configuredValues"]}
              for r in page["results"]}  # fmt: skip
    assert user in values["warehouse"]["lake_catalog"] and marker not in json.dumps(page)

    stored = [
        postgres_cluster.dump(db)
        for db in (settings.postgres_lake_db, settings.postgres_mlflow_db,
                   settings.postgres_dagster_db)
    ]  # fmt: skip
    assert "dagster_run_id" in stored[1]  # MLflow's tags are in the dump
    assert not [i for i, text in enumerate(stored) if marker in text]
    files = [p for p in settings.data_dir.rglob("*") if p.is_file()]
    assert any(p.name == "runs.jsonl" for p in files)
    assert not [p for p in files if marker.encode() in p.read_bytes()]

    wrong = f"Wrong-{uuid.uuid4().hex}"
    refused = _cli("status", env={**os.environ, "PGPASSWORD": wrong})
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "password authentication failed" in output, output[-2000:]
    assert wrong not in output and marker not in output
