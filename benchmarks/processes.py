"""Wall time and peak RSS of a command's whole process tree (the command and every descendant).

A sampler thread sums VmRSS over the tree every ``interval`` seconds (one sample reads every
``/proc/<pid>/status``, ~7 ms here, so the default 0.25 s costs the measured work ~3% of a
core); the peak of that sum is the figure reported, also per time window. Python children also
report their own VmHWM (exact, kernel-kept), and the larger of the two is used for the whole
run, so a short spike the sampler missed in the main process still counts.
getrusage's ru_maxrss is not used: Linux carries it across fork+exec, so a child reports its
parent's peak.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


def own_peak_rss_gb() -> float:
    """This process image's high-water RSS (VmHWM), in GB."""
    for line in (PROC / "self" / "status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1e6  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


def _status(pid: str) -> dict[str, str]:
    fields = {}
    for line in (PROC / pid / "status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def tree_rss_bytes(root: int) -> int:
    """Sum of VmRSS over ``root`` and all its descendants right now."""
    parents: dict[str, str] = {}
    rss: dict[str, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _status(entry.name)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue  # the process ended while we looked
        parents[entry.name] = fields.get("PPid", "0")
        rss[entry.name] = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
    tree, frontier = {str(root)}, [str(root)]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(rss.get(pid, 0) for pid in tree)


@dataclass
class Measured:
    wall_s: float
    peak_rss_gb: float
    stdout: str
    launched_at: float  # wall clock (time.time()) when the command started
    samples: list[tuple[float, int]]  # (wall clock, tree RSS bytes)

    def peak_between(self, start: float, end: float) -> float:
        """Peak tree RSS (GB) sampled in [start, end] on the wall clock."""
        inside = [rss for at, rss in self.samples if start <= at <= end]
        return max(inside, default=0) / 1e9


def run_measured(command: list[str], env: dict[str, str], interval: float = 0.25) -> Measured:
    """Run ``command`` (stderr passes through, so its progress shows) and measure its tree.

    Raises CalledProcessError when the command fails, with its stdout attached.
    """
    launched_at, started = time.time(), time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    samples: list[tuple[float, int]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append((time.time(), tree_rss_bytes(process.pid)))
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = process.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - started
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, command, output=stdout)
    peak = max((rss for _, rss in samples), default=0) / 1e9
    return Measured(wall, max(peak, _reported_peak(stdout)), stdout, launched_at, samples)


def _reported_peak(stdout: str) -> float:
    """The child's own VmHWM when its last stdout line is JSON carrying ``peak_rss_gb``."""
    lines = stdout.strip().splitlines()
    if not lines:
        return 0.0
    try:
        return float(json.loads(lines[-1]).get("peak_rss_gb", 0.0))
    except (ValueError, AttributeError):
        return 0.0
