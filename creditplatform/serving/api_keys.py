"""API keys of the scoring service: who may score, who may administer, and how often.

A key is 32 random bytes (``cp_`` + URL-safe base64), shown once when it is created and stored
only as its SHA-256 in ``<data dir>/serving/api_keys.json`` (mode 0600, replaced atomically).
SHA-256 without a slow KDF is enough here because the key is random, not a password a person
chose: there is nothing to guess from a dictionary. A presented key is hashed once and compared
with every stored hash by ``hmac.compare_digest``, whatever matches first, so the comparison
takes the same time for a near miss as for a far one. The service re-reads the file when it
changes, so a revoked key stops working without a restart.

Scopes: ``score`` (``/v1/*``) for every key, ``admin`` (``/admin/*``) for keys created with
``--admin``. Each key has its own token bucket (``serve_rate_per_second`` refilled, up to
``serve_rate_burst``): over it, 429 with ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

SCORE, ADMIN = "score", "admin"
PREFIX = "cp_"


@dataclass(frozen=True)
class ApiKey:
    name: str
    scopes: tuple[str, ...]
    created: str
    sha256: str


class KeyProblem(ValueError):
    """A key command that cannot be done (a name taken, or unknown)."""


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyStore:
    """The keys file of a data dir: create, revoke, list, and look up a presented key."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[float, int] | None = None
        self._keys: list[ApiKey] = []

    def entries(self) -> list[ApiKey]:
        """The stored keys, re-read when the file changed (by mtime and size)."""
        with self._lock:
            try:
                stat = self.path.stat()
            except FileNotFoundError:
                self._seen, self._keys = None, []
                return []
            seen = (stat.st_mtime, stat.st_size)
            if seen != self._seen:
                entries = json.loads(self.path.read_text("utf-8"))["keys"]
                self._keys = [ApiKey(e["name"], tuple(e["scopes"]), e["created"], e["sha256"])
                              for e in entries]  # fmt: skip
                self._seen = seen
            return list(self._keys)

    def _write(self, keys: list[ApiKey]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            json.dump({"keys": [asdict(k) for k in keys]}, out, indent=2)
        os.replace(temporary, self.path)

    def create(self, name: str, admin: bool = False) -> str:
        """A new key for ``name`` (returned once, never stored in clear)."""
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise KeyProblem(f"key name {name!r}: use letters, digits, '-' and '_'")
        keys = self.entries()
        if any(k.name == name for k in keys):
            raise KeyProblem(f"a key named {name!r} exists: revoke it first")
        key = PREFIX + secrets.token_urlsafe(32)
        scopes = (SCORE, ADMIN) if admin else (SCORE,)
        created = datetime.now(UTC).isoformat(timespec="seconds")
        self._write([*keys, ApiKey(name, scopes, created, _digest(key))])
        return key

    def revoke(self, name: str) -> None:
        keys = self.entries()
        if not any(k.name == name for k in keys):
            raise KeyProblem(f"no key named {name!r}")
        self._write([k for k in keys if k.name != name])

    def find(self, presented: str) -> ApiKey | None:
        """The stored key ``presented`` is, compared in constant time with every stored one."""
        digest = _digest(presented)
        found = None
        for key in self.entries():
            if hmac.compare_digest(digest, key.sha256):
                found = key
        return found


class RateLimiter:
    """One token bucket per key name: ``per_second`` refill, ``burst`` capacity."""

    def __init__(self, per_second: float, burst: int) -> None:
        self.per_second, self.burst = per_second, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, name: str) -> float:
        """0 when a request of ``name`` may go now; else seconds until it may."""
        if self.per_second <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, then = self._buckets.get(name, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.per_second)
            if tokens >= 1.0:
                self._buckets[name] = (tokens - 1.0, now)
                return 0.0
            self._buckets[name] = (tokens, now)
            return (1.0 - tokens) / self.per_second


def retry_after(seconds: float) -> str:
    """The ``Retry-After`` header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
