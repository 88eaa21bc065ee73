"""Shared benchmark plumbing: machine stamp, git commit, results files."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from creditplatform.provenance import commit

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
