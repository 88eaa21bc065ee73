"""Month keys (``YYYY-MM``): the landing folder names and the Dagster partition keys."""

from __future__ import annotations

import re
from datetime import datetime

_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def is_month(text: str) -> bool:
    """Exactly ``YYYY-MM`` (``fullmatch``: ``$`` would accept a trailing newline)."""
    return bool(_MONTH.fullmatch(text))


def parse_month(text: str) -> tuple[int, int]:
    if not is_month(text):
        raise ValueError(f"not a month key (YYYY-MM): {text!r}")
    return int(text[:4]), int(text[5:])


def add_months(month: str, count: int) -> str:
    year, mon = parse_month(month)
    total = year * 12 + (mon - 1) + count
    return f"{total // 12:04d}-{total % 12 + 1:02d}"


def month_range(start: str, count: int) -> list[str]:
    return [add_months(start, i) for i in range(count)]


def reference_months(window: list[str], count: int) -> list[str]:
    """The drift reference's months: the newest ``count`` in-time months of a champion's training
    window (its last month is the out-of-time set, which it never trained on)."""
    return window[:-1][-count:]


def expected_latest_month(now: datetime, due_day: int) -> str:
    """The newest month that should have landed by ``now`` (month M is due on day N of M+1)."""
    this_month = f"{now.year:04d}-{now.month:02d}"
    return add_months(this_month, -1 if now.day >= due_day else -2)
