"""Row-count rules: every table has rows, and about as many per application as lately.

A header-only file is an error (a month with no bureau rows would be scored as if nobody had a
bureau record). A count far from the recent months' is a warning with the numbers, not an
error: a provider's real volume does move, and a person should look before anything is refused.
"""

from __future__ import annotations

from statistics import median

from creditplatform.contracts.report import FILE, ROW_COUNT, WARNING, Violation

HISTORY_MONTHS = 3
# A table's rows per application may move within this factor of the recent median unflagged.
HISTORY_BAND = 2.0


def _measure(table: str, rows: int, applications: int) -> float:
    """Applications are counted as such; a child table per application of its month."""
    return float(rows) if table == "application" else rows / max(applications, 1)


def row_count_violations(
    table: str, rows: int, applications: int, history: list[tuple[int, int]]
) -> list[Violation]:
    """``history``: (this table's rows, applications) of up to HISTORY_MONTHS recent months."""
    if rows == 0:
        empty = {"rows": 0, "applications": applications}
        return [Violation(table, ROW_COUNT, None, "at_least_one_row", 0, [empty], FILE)]
    if not history:
        return []
    usual = median(_measure(table, r, a) for r, a in history)
    now = _measure(table, rows, applications)
    low, high = usual / HISTORY_BAND, usual * HISTORY_BAND
    if low <= now <= high:
        return []
    unit = "rows" if table == "application" else "rows per application"
    case: dict[str, object] = {
        "rows": rows,
        "applications": applications,
        unit: round(now, 3),
        f"median of last {len(history)} month(s)": round(usual, 3),
        "accepted": f"[{low:.3g}, {high:.3g}]",
    }
    rule = f"{unit}_within_{HISTORY_BAND:g}x_of_recent_median".replace(" ", "_")
    return [Violation(table, ROW_COUNT, None, rule, rows, [case], FILE, WARNING)]
