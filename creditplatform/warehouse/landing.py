"""Landing folders: which months are complete, and what their files hash to."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from creditplatform.homecredit import TABLES
from creditplatform.months import is_month

SUCCESS_MARKER = "_SUCCESS"


class LandingError(Exception):
    """A month folder that cannot be ingested at all (missing, incomplete, or missing files)."""


@dataclass(frozen=True)
class LandingMonth:
    month: str
    folder: Path

    def file(self, table: str) -> Path:
        return self.folder / TABLES[table].file_name


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def landing_month(landing_dir: Path, month: str) -> LandingMonth:
    """The month's folder, or a LandingError that names the month and what is missing."""
    folder = landing_dir / month
    if not folder.is_dir():
        raise LandingError(f"month {month}: landing folder {folder} does not exist")
    if not (folder / SUCCESS_MARKER).exists():
        raise LandingError(
            f"month {month}: {folder} has no {SUCCESS_MARKER} marker, so the drop is incomplete "
            "and is not ingested"
        )
    missing = [spec.file_name for spec in TABLES.values() if not (folder / spec.file_name).exists()]
    if missing:
        raise LandingError(f"month {month}: missing file(s) in {folder}: {', '.join(missing)}")
    return LandingMonth(month, folder)


def complete_months(landing_dir: Path) -> list[str]:
    """Month folders that carry the success marker, oldest first."""
    if not landing_dir.is_dir():
        return []
    return sorted(
        p.name
        for p in landing_dir.iterdir()
        if p.is_dir() and is_month(p.name) and (p / SUCCESS_MARKER).exists()
    )


@dataclass(frozen=True)
class LandingInventory:
    """What the landing folder holds: months to ingest, and folders that will never be."""

    months: list[str]
    not_a_month: list[str]
    out_of_range: list[str]

    @property
    def ignored(self) -> list[str]:
        return self.not_a_month + self.out_of_range

    def warning(self) -> str | None:
        """One line naming every ignored folder and why, or None."""
        parts = []
        if self.not_a_month:
            parts.append(f"not a YYYY-MM month: {', '.join(self.not_a_month)}")
        if self.out_of_range:
            parts.append(f"outside the partition range: {', '.join(self.out_of_range)}")
        return "landing folders ignored (" + "; ".join(parts) + ")" if parts else None


def landing_inventory(landing_dir: Path, partition_keys: set[str]) -> LandingInventory:
    """Complete months inside the partition range, plus the folders that are ignored.

    Hidden folders (``.2024-05.partial`` while ``land`` copies) are in-flight, not mistakes.
    """
    if not landing_dir.is_dir():
        return LandingInventory([], [], [])
    folders = sorted(p.name for p in landing_dir.iterdir() if p.is_dir())
    visible = [name for name in folders if not name.startswith(".")]
    not_a_month = [name for name in visible if not is_month(name)]
    complete = complete_months(landing_dir)
    return LandingInventory(
        months=[m for m in complete if m in partition_keys],
        not_a_month=not_a_month,
        out_of_range=[m for m in visible if is_month(m) and m not in partition_keys],
    )


def month_fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Cheap stand-in for the checksums: names, sizes and modification times of the files."""
    return tuple(
        (p.name, p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.iterdir())
        if p.suffix == ".csv"
    )


def month_checksum(folder: Path) -> str:
    """SHA-256 over the per-file SHA-256s: changes exactly when a file's content changes."""
    digest = hashlib.sha256()
    for spec in TABLES.values():
        path = folder / spec.file_name
        digest.update(spec.file_name.encode())
        digest.update(sha256_file(path).encode() if path.exists() else b"missing")
    return digest.hexdigest()


def ingest_retry(
    last_run_failed: bool, contract_failed: bool, retries_so_far: int, max_retries: int
) -> str | None:
    """What to do about a month whose files did not change since its last ingest run.

    ``"retry"`` a run that failed or died for a reason other than its contracts (a lock, a
    kill, a full disk), up to ``max_retries`` times; then ``"give_up"`` (alert once). A
    contract failure is final until a corrected drop changes the files' SHA-256.
    """
    if not last_run_failed or contract_failed:
        return None
    return "retry" if retries_so_far < max_retries else "give_up"


def land_month(source: Path, landing_dir: Path, month: str) -> Path:
    """Deliver one month folder the way a provider should: files first, ``_SUCCESS`` last.

    The files are copied under a hidden name and renamed into place, so the landing sensor never
    sees a half-copied month; the marker is written after the rename. Replaces an earlier drop.
    """
    landing_dir.mkdir(parents=True, exist_ok=True)
    target = landing_dir / month
    partial = landing_dir / f".{month}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(source / month, partial, ignore=shutil.ignore_patterns(SUCCESS_MARKER))
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    (target / SUCCESS_MARKER).touch()
    return target
