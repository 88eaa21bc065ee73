"""The commit a model is tagged with: the image's stamp, else git (``+dirty`` when tracked
files changed), else ``unknown``, which the production profile's lineage gate refuses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from creditplatform.provenance import UNKNOWN, commit, package_version
from creditplatform.settings import REPO_ROOT


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def test_git_head_then_dirty_then_the_stamp_wins(tmp_path):
    repo, stamp = tmp_path / "repo", tmp_path / "BUILD_COMMIT"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "model.py").write_text("a = 1\n")
    _git(repo, "add", "model.py")
    _git(repo, "commit", "-qm", "first")
    head = _git(repo, "rev-parse", "HEAD")
    assert commit(repo, stamp) == head
    (repo / "notes.txt").write_text("untracked files do not change what was built\n")
    assert commit(repo, stamp) == head
    (repo / "model.py").write_text("a = 2\n")
    assert commit(repo, stamp) == f"{head}+dirty"
    stamp.write_text("0123abcd+dirty\n")
    assert commit(repo, stamp) == "0123abcd+dirty"


def test_no_git_and_no_stamp_is_unknown(tmp_path):
    assert commit(tmp_path, tmp_path / "BUILD_COMMIT") == UNKNOWN


def test_version_flag_prints_version_and_commit():
    done = subprocess.run(
        [sys.executable, "-m", "creditplatform.cli", "--version"],
        capture_output=True, text=True, check=True, cwd=REPO_ROOT,
    )  # fmt: skip
    assert done.stdout.strip() == f"creditplatform {package_version()} (commit {commit()})"
    assert package_version() != UNKNOWN and commit() != UNKNOWN  # CI runs in a git clone
