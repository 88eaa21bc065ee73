"""Shared benchmark plumbing: machine stamp, git commit, results files."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from creditplatform import local_postgres
from creditplatform.provenance import commit
from creditplatform.settings import REPO_ROOT

RESULTS = Path(__file__).parent / "results"


def machine() -> dict:
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {
        "cores": os.cpu_count(),
        "ram_gb": round(pages / 1e9, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_results(name: str, payload: dict, markdown: str) -> tuple[Path, Path]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamped = {
        **payload,
        "machine": machine(),
        "git_commit": commit(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    json_path, md_path = RESULTS / f"{name}.json", RESULTS / f"{name}.md"
    json_path.write_text(json.dumps(stamped, indent=2) + "\n")
    md_path.write_text(
        markdown + f"\n\nMachine: {stamped['machine']}; commit {stamped['git_commit']}\n"
    )
    return json_path, md_path


def production_env(cluster: local_postgres.Cluster, prefix: str) -> dict[str, str]:
    """The production profile's variables on ``cluster``, with new databases for the lake
    catalog, MLflow and Dagster named ``<prefix>_<part>`` (as ``deploy/production/stack.sh``
    and the tests' ``production`` fixture set them)."""
    env = {}
    for part in ("lake", "mlflow", "dagster"):
        cluster.create_database(f"{prefix}_{part}")
        env[f"CREDITPLATFORM_POSTGRES_{part.upper()}_DB"] = f"{prefix}_{part}"
    return {
        **env,
        "CREDITPLATFORM_PROFILE": "production",
        "CREDITPLATFORM_POSTGRES_HOST": cluster.host,
        "CREDITPLATFORM_POSTGRES_PORT": str(cluster.port),
        "CREDITPLATFORM_POSTGRES_USER": local_postgres.SUPERUSER,
        "DAGSTER_HOME": str(REPO_ROOT / "deploy" / "production"),
    }
