"""Content hashes that make a model traceable to the exact data and artifact it came from."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd


def frame_sha256(frame: pd.DataFrame, key: str = "SK_ID_CURR") -> str:
    """SHA-256 of a frame made canonical: columns sorted by name, rows sorted by ``key``.

    Row values are hashed with pandas' stable per-row hash (dtype-aware, NaN-aware), so the
    same data gives the same digest whatever order it was read in.
    """
    canonical = frame[sorted(frame.columns)].sort_values(key, kind="stable").reset_index(drop=True)
    digest = hashlib.sha256()
    digest.update(",".join(f"{c}:{canonical[c].dtype}" for c in canonical.columns).encode())
    digest.update(pd.util.hash_pandas_object(canonical, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def directory_sha256(root: Path) -> str:
    """SHA-256 over every file below ``root`` (relative path and bytes), in path order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
