"""What code this is: the package version and the commit it was built from.

Every model version is tagged with the commit that trained it (its lineage). In a checkout the
commit is git's, with ``+dirty`` when tracked files differ from it; an image has neither git nor
``.git``, so the commit is stamped into the package when the image is built
(``docker build --build-arg GIT_COMMIT=$(python -m creditplatform.provenance)``, written to
``creditplatform/BUILD_COMMIT``). Without either it is ``unknown``, which the production
profile's lineage gate refuses (``Registry.missing_lineage``).
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

UNKNOWN = "unknown"
PACKAGE_ROOT = Path(__file__).resolve().parent
STAMP = PACKAGE_ROOT / "BUILD_COMMIT"


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()


def commit(root: Path = PACKAGE_ROOT.parent, stamp: Path = STAMP) -> str:
    """The build stamp if there is one, else git's HEAD (``+dirty`` when tracked files
    changed), else ``unknown``."""
    if stamp.is_file() and stamp.read_text("utf-8").strip():
        return stamp.read_text("utf-8").strip()
    try:
        head = _git(root, "rev-parse", "HEAD")
        changed = _git(root, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return UNKNOWN
    return f"{head}+dirty" if changed else head


def package_version() -> str:
    try:
        return version("creditplatform")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return UNKNOWN


def describe() -> str:
    """``creditplatform --version``."""
    return f"creditplatform {package_version()} (commit {commit()})"


if __name__ == "__main__":  # the image build's argument: python -m creditplatform.provenance
    sys.stdout.write(commit() + "\n")
