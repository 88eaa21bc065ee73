"""One clock for every rule that asks "how old?" or "how late?".

A deployment runs on the wall clock. The demo replays 2024-2025 months in minutes; judged by
the wall clock, its first month would already be two years overdue, its models minutes old
forever, a 24-hour cooldown would outlast the whole replay, and the partition range would run
to today with every month since the data ends "missing". So ``creditplatform demo`` sets a
simulated time in ``<data dir>/clock.json`` (the due date of the month that just landed), from
which the clock runs on at normal speed (so the daemon started after the demo, ``make ui``, goes
on from where the data ends, and two events are never at the same instant), and everything that
judges age or lateness reads ``now()`` here: the landing-overdue alert, model
staleness, champion age and retirement, the drift cooldown, promotion times, ``status`` and the
partition range. Without the file (``make clean``, any real deployment), the wall clock.

Processing timestamps (when a run scored or computed something) stay on the wall clock: they
record when the machine did the work, not what time it was in the data.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from creditplatform.files import write_atomically
from creditplatform.months import add_months

CLOCK_FILE = "clock.json"


def simulated(data_dir: Path) -> datetime | None:
    """The simulated time now, or None when the clock is the wall clock."""
    path = Path(data_dir) / CLOCK_FILE
    if not path.exists():
        return None
    stored = json.loads(path.read_text())
    elapsed = datetime.now(UTC) - datetime.fromisoformat(stored["set_at"])
    return datetime.fromisoformat(stored["now"]) + elapsed


def now(data_dir: Path) -> datetime:
    return simulated(data_dir) or datetime.now(UTC)


def set_simulated(data_dir: Path, when: datetime) -> None:
    """Move the simulated clock (atomically: a reader sees the old time or the new one)."""
    stored = {"now": when.isoformat(), "set_at": datetime.now(UTC).isoformat()}
    write_atomically(Path(data_dir) / CLOCK_FILE, json.dumps(stored) + "\n")


def due_date(month: str, due_day: int) -> datetime:
    """When month ``YYYY-MM`` is due: day ``due_day`` of the next month, 00:00 UTC."""
    year, number = (int(part) for part in add_months(month, 1).split("-"))
    return datetime(year, number, due_day, tzinfo=UTC)


def last_partition_month(data_dir: Path) -> str | None:
    """The newest month partition under a simulated clock: the last month that has ended by
    then (what Dagster's monthly partitions give under the wall clock); None on the wall clock."""
    when = simulated(data_dir)
    if when is None:
        return None
    return add_months(f"{when.year:04d}-{when.month:02d}", -1)
