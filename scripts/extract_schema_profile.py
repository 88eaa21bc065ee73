"""Rebuild ``creditplatform/homecredit_profile.json`` from ``shared/homecredit_schema.md``.

The schema document is the source of truth for column names, order, dtypes, null rates, ranges
and category levels. The package cannot read a file outside the repository at run time, so this
script turns the document into a JSON profile that ships with the code; a test re-parses the
document (when it is present beside the checkout) and fails if the two disagree.

Usage: python scripts/extract_schema_profile.py ../shared/homecredit_schema.md
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

TABLE_FILES = {
    "application_train": "application",
    "bureau": "bureau",
    "bureau_balance": "bureau_balance",
    "previous_application": "previous_application",
    "POS_CASH_balance": "POS_CASH_balance",
    "installments_payments": "installments_payments",
    "credit_card_balance": "credit_card_balance",
}

_HEADING = re.compile(r"^### (\w+) — (\d+) columns")
_RANGE = re.compile(r"\[(\S+) … (\S+) … (\S+)\]")
_PAIR = re.compile(r"(?:^|, )(.+?):(\d+)(?=, |$)")
_SENTINEL = re.compile(r"(\d+) sentinel: ([\d.]+)% of random rows")


def _number(text: str) -> float:
    return float(text)


def _parse_cell(dtype: str, cell: str) -> dict:
    spec: dict = {}
    if dtype.startswith("object"):
        _, _, rest = cell.partition(" — ")
        seen, _, extra = rest.partition(" ; also seen in other samples: ")
        spec["levels"] = {name: int(n) for name, n in _PAIR.findall(seen.strip())}
        spec["rare_levels"] = [x.strip() for x in extra.split(", ")] if extra else []
        return spec
    match = _RANGE.search(cell)
    if match:
        spec["min"], spec["p50"], spec["max"] = (_number(g) for g in match.groups())
    values = cell.partition("values: ")[2]
    if values:
        values = values.split(" **")[0].strip()
        spec["values"] = {k: int(v) for k, v in (p.rsplit(":", 1) for p in values.split(", "))}
    sentinel = _SENTINEL.search(cell)
    if sentinel:
        spec["sentinel"] = int(sentinel.group(1))
        spec["sentinel_rate"] = float(sentinel.group(2)) / 100
    return spec


def parse(markdown: str) -> dict:
    tables: dict[str, list[dict]] = {}
    current: str | None = None
    for line in markdown.splitlines():
        heading = _HEADING.match(line)
        if heading:
            current = TABLE_FILES.get(heading.group(1))
            if current:
                tables[current] = []
            continue
        if current is None or not line.startswith("| ") or line.startswith("| #"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) != 5 or not cells[0].isdigit():
            continue
        _, column, dtype, null_pct, detail = cells
        entry = {
            "name": column,
            "dtype": "str" if dtype.startswith("object") else dtype,
            "null_rate": float(null_pct) / 100,
        }
        entry.update(_parse_cell(dtype, detail))
        tables[current].append(entry)
    return tables


def main() -> None:
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/homecredit_schema.md")
    target = Path(__file__).resolve().parents[1] / "creditplatform" / "homecredit_profile.json"
    profile = parse(source.read_text(encoding="utf-8"))
    target.write_text(json.dumps(profile, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {target} ({', '.join(f'{t}:{len(c)}' for t, c in profile.items())})")


if __name__ == "__main__":
    main()
