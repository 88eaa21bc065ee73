"""A throwaway PostgreSQL cluster from Debian's ``postgresql`` package, for tests and for
``make run PROFILE=production`` on one machine.

The cluster lives in one directory, listens on 127.0.0.1 only (plus a socket in that
directory), trusts local connections (``add_password_login`` adds a role that must give its
password, as on a managed server), and is stopped by the pid we started, never by name.
PostgreSQL refuses to run as root, so under root the server runs as the package's
``postgres`` user. Nothing here is used by the platform itself: it only reaches PostgreSQL
through the URLs in ``Settings``.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

STATE_FILE = "cluster.json"
SUPERUSER = "creditplatform"


class NoPostgres(RuntimeError):
    """PostgreSQL's server binaries are not installed (``apt-get install postgresql``)."""


def server_bindir() -> Path:
    """The newest installed server's bin dir (Debian keeps it off PATH)."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if not candidates:
        raise NoPostgres("no PostgreSQL server found: install Debian's `postgresql` package")
    return Path(candidates[-1]).parent


def _run_checked(command: list[str], **kwargs) -> None:
    """Run a PostgreSQL tool; on failure raise with its own words, not just an exit code."""
    done = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    if done.returncode:
        raise RuntimeError(
            f"{Path(command[0]).name} failed: {(done.stderr or done.stdout)[-2000:]}"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user() -> dict:
    """Popen arguments that drop root to the ``postgres`` user (initdb refuses root)."""
    return {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}


@dataclass(frozen=True)
class Cluster:
    directory: str
    port: int
    pid: int

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def conninfo(self, database: str) -> str:
        """libpq key/value form (DuckLake's catalog string)."""
        return f"host={self.host} port={self.port} user={SUPERUSER} dbname={database}"

    def url(self, database: str) -> str:
        """SQLAlchemy form; psycopg2 named, since a bare postgresql:// now means psycopg 3."""
        return f"postgresql+psycopg2://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        createdb = str(server_bindir() / "createdb")
        _run_checked([createdb, "-h", self.host, "-p", str(self.port), "-U", SUPERUSER, name])

    def add_password_login(self, user: str, password: str) -> None:
        """A superuser role that must give ``password`` over TCP (SCRAM), the way a managed
        server is reached; the cluster's own user stays trusted."""
        psql = [str(server_bindir() / "psql"), "-h", self.host, "-p", str(self.port)]
        psql += ["-U", SUPERUSER, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q"]
        role = f'CREATE ROLE "{user}" LOGIN SUPERUSER PASSWORD {_quoted(password)}'
        _run_checked([*psql, "-c", role])
        hba = Path(self.directory) / "pgdata" / "pg_hba.conf"
        hba.write_text(f"host all {user} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        _run_checked([*psql, "-c", "SELECT pg_reload_conf()"])

    def dump(self, database: str) -> str:
        """Everything ``database`` stores, as SQL (``pg_dump``)."""
        out = subprocess.run(
            [str(server_bindir() / "pg_dump"), "-h", self.host, "-p", str(self.port),
             "-U", SUPERUSER, database],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return out.stdout

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self, timeout: float = 60.0) -> None:
        """Fast shutdown (SIGINT) of the postmaster we started, then wait for it to go."""
        try:
            os.kill(self.pid, signal.SIGINT)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
            with contextlib.suppress(ChildProcessError):  # our child: reap it, no zombie
                os.waitpid(self.pid, os.WNOHANG)
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def start(directory: Path, port: int | None = None, wait_seconds: float = 120.0) -> Cluster:
    """Initialise (first time) and start a cluster in ``directory``; returns once it accepts
    connections."""
    bindir = server_bindir()
    directory = Path(directory).resolve()
    data = directory / "pgdata"
    directory.mkdir(parents=True, exist_ok=True)
    drop = _as_server_user()
    if drop:
        shutil.chown(directory, "postgres", "postgres")
        closed = [p for p in directory.parents if not os.stat(p).st_mode & 0o001]
        if closed:
            raise RuntimeError(
                f"the server runs as `postgres`, which cannot enter {closed[0]}: put the "
                "cluster in a directory every user may traverse (e.g. under /tmp)"
            )
    if not (data / "PG_VERSION").exists():
        _run_checked(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            **drop,
        )
    port = port or free_port()
    log = open(directory / "postgres.log", "ab")  # noqa: SIM115 - the server keeps it
    proc = subprocess.Popen(
        [
            str(bindir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-k",
            str(directory),
            "-c",
            "max_connections=200",
            "-c",
            "fsync=off",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        **drop,
    )
    cluster = Cluster(str(directory), port, proc.pid)
    deadline = time.monotonic() + wait_seconds
    while True:
        ready = subprocess.run(
            [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True
        )
        if ready.returncode == 0:
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            cluster.stop()
            tail = (directory / "postgres.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"PostgreSQL did not start on port {port}:\n{tail}")
        time.sleep(0.2)
    (directory / STATE_FILE).write_text(json.dumps(asdict(cluster)))
    return cluster


def running(directory: Path) -> Cluster | None:
    state = Path(directory) / STATE_FILE
    if not state.exists():
        return None
    cluster = Cluster(**json.loads(state.read_text()))
    return cluster if cluster.alive() else None


def main(argv: list[str] | None = None) -> int:
    """``python -m creditplatform.local_postgres start|stop DIR [--port N] [--databases a,b]``;
    ``start`` prints the cluster (directory, port, pid) as JSON."""
    parser = argparse.ArgumentParser(prog="python -m creditplatform.local_postgres")
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--databases", default="", help="comma-separated databases to create")
    args = parser.parse_args(argv)
    cluster = running(args.directory)
    if args.action == "stop":
        if cluster:
            cluster.stop()
        (args.directory / STATE_FILE).unlink(missing_ok=True)
        return 0
    if cluster is None:
        cluster = start(args.directory, args.port)
    existing = subprocess.run(
        [
            str(server_bindir() / "psql"),
            "-h",
            cluster.host,
            "-p",
            str(cluster.port),
            "-U",
            SUPERUSER,
            "-d",
            "postgres",
            "-Atc",
            "SELECT datname FROM pg_database",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    for name in filter(None, args.databases.split(",")):
        if name not in existing:
            cluster.create_database(name)
    print(json.dumps(asdict(cluster)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
