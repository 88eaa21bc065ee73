"""What a contract run found: violations grouped by the asset check that reports them."""

from __future__ import annotations

from dataclasses import dataclass, field

from creditplatform.homecredit import TableSpec

MAX_CASES = 20

# The asset checks every raw table carries (foreign_keys only where the table has a parent).
COLUMNS_AND_TYPES = "columns_and_types"
VALUE_RULES = "value_rules"
PRIMARY_KEY = "primary_key_unique"
FOREIGN_KEYS = "foreign_keys"
CHECK_DESCRIPTIONS = {
    COLUMNS_AND_TYPES: "File is UTF-8, non-empty, has exactly the Kaggle columns in order, "
    "every row has every field and every value parses as its column's type.",
    VALUE_RULES: "pandera contract: nullability and physically possible values (sentinels "
    "365243/XNA/XAP accepted).",
    PRIMARY_KEY: "The table's key is unique within the month.",
    FOREIGN_KEYS: "Every child row points at a parent row of the same month.",
}


@dataclass(frozen=True)
class Violation:
    """One broken rule: which check, column and rule, how many rows, and a sample of them."""

    table: str
    check: str
    column: str | None
    rule: str
    failing_rows: int
    cases: list[dict] = field(default_factory=list)

    @property
    def message(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        return f"{where}: rule {self.rule} failed on {self.failing_rows} row(s)"

    def as_metadata(self) -> dict:
        return {
            "table": self.table,
            "column": self.column,
            "rule": self.rule,
            "failing_rows": self.failing_rows,
            "failure_cases": self.cases[:MAX_CASES],
        }


@dataclass
class TableReport:
    table: str
    path: str
    sha256: str
    rows: int = 0
    violations: list[Violation] = field(default_factory=list)
    evaluated: set[str] = field(default_factory=set)

    def for_check(self, check: str) -> list[Violation]:
        return [v for v in self.violations if v.check == check]

    @property
    def passed(self) -> bool:
        return not self.violations


@dataclass
class StagedTable:
    """A landing file parsed into a warehouse table (``ref``) and what its contracts found."""

    spec: TableSpec
    ref: str
    report: TableReport
