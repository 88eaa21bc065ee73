"""Scan the tracked files for secrets (detect-secrets) against ``security/secrets-baseline.json``.

Fails, naming file, line and kind, on any finding that is not in the baseline as an audited
false positive. The scan runs on a copy of the baseline, so line numbers that moved update the
copy and never dirty the tree. Left out: ``benchmarks/results/`` (generated; its long hex strings
are commit ids and SHA-256 digests of data) and the baseline itself (hashes of what it lists).

Usage: python scripts/secrets_scan.py   (``make lint``)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "security" / "secrets-baseline.json"
EXCLUDE = r"^(benchmarks/results/|security/secrets-baseline\.json$)"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "baseline.json"
        shutil.copy(BASELINE, copy)
        scanner = Path(sys.executable).with_name("detect-secrets")
        subprocess.run(
            [str(scanner), "scan", "--baseline", str(copy), "--exclude-files", EXCLUDE],
            cwd=ROOT, check=True,
        )  # fmt: skip
        results = json.loads(copy.read_text())["results"]
    new = [
        f"{path}:{found['line_number']}: {found['type']}"
        for path, findings in results.items()
        for found in findings
        if found.get("is_secret") is not False
    ]
    for line in new:
        print(f"possible secret (not an audited false positive): {line}", file=sys.stderr)
    if new:
        print(
            "Remove the secret, or if it is none, add it to the baseline as a false positive "
            "with its reason in security/README.md",
            file=sys.stderr,
        )
    return 1 if new else 0


if __name__ == "__main__":
    raise SystemExit(main())
