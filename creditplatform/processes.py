"""Is the process that owns a run still alive? (Linux /proc; no Dagster or MLflow import.)

A pid alone is not enough: after a crash the kernel may hand the same pid to an unrelated
process. A process that started after the run it supposedly owns cannot be its owner, so the
start time from ``/proc/<pid>/stat`` is compared with the run's start.
"""

from __future__ import annotations

import os
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# /proc start times have a resolution of one clock tick, the run timestamps of milliseconds.
_SLACK_SECONDS = 2.0


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise OSError("no btime in /proc/stat")


def process_started_at(pid: int) -> float | None:
    """Unix time the process started, or None if there is no such (live) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces; fields after it are space-separated.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in {"Z", "X"}:  # zombie or dead: it will never finish the run
        return None
    return _boot_time() + int(fields[19]) / _CLOCK_TICKS


def process_alive(pid: int, owned_since: float | None = None) -> bool:
    """True if ``pid`` runs and (given ``owned_since``, a Unix time) started no later than it."""
    started = process_started_at(pid)
    if started is None:
        return False
    return owned_since is None or started <= owned_since + _SLACK_SECONDS
