"""Where a failing data row sits in its file: the line number and the raw text a person opens.

DuckDB numbers rows, not lines: a quoted field may hold a newline, and a file may carry a
byte-order mark or CRLF endings. The standard ``csv`` module follows the same quoting rules and
counts physical lines, so the file is re-read up to the last failing row, only when a rule fails.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from creditplatform.contracts.report import Violation

MAX_TEXT = 200


def locate_rows(path: Path, rows: set[int]) -> dict[int, tuple[int, str]]:
    """Data row (1-based, header excluded, blank lines skipped) → (first line, raw text)."""
    if not rows:
        return {}
    found: dict[int, tuple[int, str]] = {}
    consumed: list[str] = []
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:

        def lines() -> Iterator[str]:
            for line in handle:
                consumed.append(line)
                yield line

        reader = csv.reader(lines())
        next(reader, None)
        consumed.clear()
        index, last = 0, max(rows)
        for record in reader:
            if record:
                index += 1
                if index in rows:
                    first = reader.line_num - len(consumed) + 1
                    found[index] = (first, "".join(consumed).rstrip("\r\n")[:MAX_TEXT])
            consumed.clear()
            if index >= last:
                break
    return found


def with_lines(path: Path, violations: list[Violation]) -> list[Violation]:
    """The violations with ``line`` and ``text`` added to every case that names a data row."""
    wanted = {
        int(case["row"])
        for v in violations
        for case in v.cases
        if "row" in case and "line" not in case
    }
    located = locate_rows(path, wanted)
    if not located:
        return violations

    def add(case: dict[str, Any]) -> dict[str, Any]:
        where = located.get(int(case["row"])) if "row" in case and "line" not in case else None
        return {**case, "line": where[0], "text": where[1]} if where else case

    return [replace(v, cases=[add(c) for c in v.cases]) for v in violations]
