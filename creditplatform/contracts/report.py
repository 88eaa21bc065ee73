"""What a contract run found: violations grouped by the asset check that reports them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from creditplatform.homecredit import TableSpec

MAX_CASES = 20
# How many failing lines a terminal message quotes per rule (the check metadata keeps MAX_CASES).
QUOTED_LINES = 3

# The asset checks every raw table carries (foreign_keys only where the table has a parent).
COLUMNS_AND_TYPES = "columns_and_types"
VALUE_RULES = "value_rules"
PRIMARY_KEY = "primary_key_unique"
FOREIGN_KEYS = "foreign_keys"
ROW_COUNT = "row_count"
CHECK_DESCRIPTIONS = {
    COLUMNS_AND_TYPES: "File is UTF-8 (a byte-order mark is accepted), has exactly the Kaggle "
    "columns in order, every row has every field, every value parses as its column's type and "
    "integer columns hold integer literals only.",
    VALUE_RULES: "pandera contract: nullability, finite floats (no NaN or ±inf literal) and "
    "physically possible values (sentinels 365243/XNA/XAP accepted).",
    PRIMARY_KEY: "The table's key is unique within the month.",
    FOREIGN_KEYS: "Every child row points at a parent row of the same month, and a row carrying "
    "two parent keys names the applicant its parent row belongs to.",
    ROW_COUNT: "At least one row (error); rows per application of the month within a factor of "
    "the recent months' median (warning).",
}

ERROR = "error"
WARNING = "warning"
# Where a rule applies: a row-level rule counts rows; column- and file-level ones do not.
ROW, COLUMN, FILE = "row", "column", "file"


@dataclass(frozen=True)
class Violation:
    """One broken rule: which check, column and rule, how many rows, and a sample of them.

    Row-level cases carry the data ``row`` (1-based); ``ingest`` adds the file ``line`` and its
    raw ``text`` to the first cases so a person can open the file at the right place.
    """

    table: str
    check: str
    column: str | None
    rule: str
    failing_rows: int
    cases: list[dict[str, Any]] = field(default_factory=list)
    level: str = ROW
    severity: str = ERROR

    @property
    def message(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        if self.level == ROW:
            head = f"{where}: rule {self.rule} failed on {self.failing_rows} row(s)"
        else:
            head = f"{where}: {self.level}-level rule {self.rule} failed"
        if self.severity == WARNING:
            head = f"warning: {head}"
        quoted = [_quote(case) for case in self.cases[:QUOTED_LINES]]
        return head + "".join(f"\n    {q}" for q in quoted if q)

    def as_metadata(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "column": self.column,
            "rule": self.rule,
            "level": self.level,
            "severity": self.severity,
            "failing_rows": self.failing_rows,
            "failure_cases": self.cases[:MAX_CASES],
        }


def _quote(case: dict[str, Any]) -> str:
    """``line 12: <raw text>`` when the line is known, else the case's own fields."""
    if "line" in case:
        text = case.get("text")
        return f"line {case['line']}: {text}" if text is not None else f"line {case['line']}"
    return ", ".join(f"{k}={v}" for k, v in case.items())


@dataclass
class TableReport:
    table: str
    path: str
    sha256: str
    rows: int = 0
    byte_order_mark: bool = False
    violations: list[Violation] = field(default_factory=list)
    evaluated: set[str] = field(default_factory=set)

    def for_check(self, check: str) -> list[Violation]:
        return [v for v in self.violations if v.check == check]

    @property
    def errors(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == ERROR]

    @property
    def passed(self) -> bool:
        """No error; warnings are reported but never stop a month."""
        return not self.errors


@dataclass
class StagedTable:
    """A landing file parsed into a warehouse table (``ref``) and what its contracts found."""

    spec: TableSpec
    ref: str
    report: TableReport
