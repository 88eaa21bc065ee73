"""Start a real ``dagster dev`` (webserver + daemon) for a test, and stop it by its pid.

Started the way the Makefile does, in its own session with SIGINT restored (in the background
``dagster dev`` otherwise ignores the stop signal); stopped with SIGINT to its process group,
SIGKILL after a grace period. Never by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster._core.remote_origin import RemoteInstigatorOrigin

from creditplatform.sensor_state import InstanceSensorState
from creditplatform.settings import REPO_ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {seconds:.0f}s")


def ticks_since(state: InstanceSensorState, name: str, timestamp: float) -> list:
    """The daemon's ticks of sensor ``name`` from ``timestamp`` on (under the workspace's
    selector, the one ``dagster dev`` uses)."""
    origin = RemoteInstigatorOrigin(state.repository, name)
    ticks = state.instance.get_ticks(origin.get_id(), origin.get_selector().get_id(), limit=50)
    return [tick for tick in ticks if tick.timestamp >= timestamp]


@contextmanager
def dagster_dev(env: dict, log_path: Path) -> Iterator[str]:
    """``dagster dev`` on a free loopback port; yields its base URL."""
    port = free_port()
    dagster = Path(sys.executable).parent / "dagster"
    log = log_path.open("w")
    process = subprocess.Popen(
        ["setsid", "env", "--default-signal=INT", str(dagster), "dev", "-h", "127.0.0.1",
         "-p", str(port), "-w", str(REPO_ROOT / "workspace.yaml")],
        env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/server_info", 180)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        # The code server and its run workers are in the group we created; a run interrupted
        # by the shutdown can outlive dagster dev. Nothing of the test may outlive it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
