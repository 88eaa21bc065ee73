"""Find applicants' rows in files: the privacy scan of every artifact the platform writes.

An applicant's row is found in a text when at least ``MATCHES`` of its *distinctive* values (a
number that only this applicant has in its column) appear tied together, in one of the two ways
a row can sit in a file:

- **a record**: the values close together in the text (a JSON/CSV row, a ``to_json`` dump,
  MLflow's ``input_example.json``), within ``WINDOW`` numbers of each other;
- **aligned arrays**: the values at the same position of different number arrays of at least
  ``ROW_ARRAY`` numbers (a plotting library's per-column traces drawn from one sample of whole
  rows: Evidently's pages).

Numbers are compared at ``DIGITS`` significant digits (JSON writers round differently: Python's
shortest round-trip form, pandas' ten decimals). A median or a histogram edge may equal one
applicant's value in a column; several of one applicant's values tied together do not happen by
chance.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

MATCHES = 5
DIGITS = 9
MIN_DIGITS = 5
# Arrays shorter than this are summaries (histogram edges and counts, whose first and last
# places hold every column's extremes); a short dump of rows is close enough to be a record.
ROW_ARRAY = 50
WINDOW = 400
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
ARRAY = re.compile(r"\[[-0-9.eE+, ]*\]")


def _key(value: float | str) -> float:
    return float(f"{float(value):.{DIGITS}g}")


def _digits(key: float) -> int:
    """Significant digits of a number as the scan writes it."""
    mantissa = f"{key:.{DIGITS}g}".split("e")[0]
    return len(mantissa.lstrip("-").replace(".", "").strip("0"))


class Applicants:
    """Per applicant, {column: value} for its *distinctive* numbers, and the inverse (value →
    who has it where), so a file is looked up once per number.

    Distinctive: no other cell of the table holds it, in any column (Home Credit repeats one
    value across columns, e.g. ``APARTMENTS_AVG``/``_MEDI``), and it has at least
    ``MIN_DIGITS`` significant digits (a four-digit share like 0.9533 is also a plot's bin
    edge or another number on the page by chance).
    """

    def __init__(self, rows: pd.DataFrame, id_column: str = "SK_ID_CURR") -> None:
        cells = []
        for column in rows.columns:
            if column == id_column or not pd.api.types.is_numeric_dtype(rows[column]):
                continue
            numbers = pd.to_numeric(rows[column], errors="coerce").astype("float64")
            present = numbers.notna()
            cells.append(pd.DataFrame({
                "applicant": rows.loc[present, id_column].astype("int64").to_numpy(),
                "column": column,
                "key": [_key(v) for v in numbers[present]],
            }))  # fmt: skip
        table = pd.concat(cells, ignore_index=True)
        table = table[~table["key"].duplicated(keep=False)]
        table = table[[_digits(k) >= MIN_DIGITS for k in table["key"]]]
        self.values: dict[int, dict[str, float]] = defaultdict(dict)
        self.owners: dict[float, list[tuple[int, str]]] = defaultdict(list)
        for applicant, column, key in table.itertuples(index=False):
            self.values[applicant][column] = key
            self.owners[key].append((applicant, column))


def rows_in_text(text: str, applicants: Applicants) -> list[int]:
    """Ids of the applicants whose row ``text`` holds, as a record or as aligned arrays."""
    numbers = [_key(token) for token in NUMBER.findall(text)]
    columns_seen: dict[int, set[str]] = defaultdict(set)
    for value in set(numbers):
        for applicant, column in applicants.owners.get(value, ()):
            columns_seen[applicant].add(column)
    suspects = [a for a, seen in columns_seen.items() if len(seen) >= MATCHES]
    if not suspects:
        return []
    stream: dict[float, list[int]] = defaultdict(list)
    for position, value in enumerate(numbers):
        stream[value].append(position)
    aligned: dict[float, list[int]] = defaultdict(list)  # value -> its positions in any array
    for match in ARRAY.finditer(text):
        tokens = NUMBER.findall(match.group())
        if len(tokens) >= ROW_ARRAY:
            for position, token in enumerate(tokens):
                aligned[_key(token)].append(position)
    return [
        a
        for a in suspects
        if _as_record(applicants.values[a], stream) or _as_aligned(applicants.values[a], aligned)
    ]


def _as_record(values: dict[str, float], stream: dict[float, list[int]]) -> bool:
    hits = sorted(
        (position, column)
        for column, value in values.items()
        for position in stream.get(value, ())
    )  # fmt: skip
    inside: Counter[str] = Counter()
    first = 0
    for position, column in hits:  # a window of WINDOW numbers slides over the hits
        inside[column] += 1
        while hits[first][0] < position - WINDOW:
            inside[hits[first][1]] -= 1
            inside -= Counter()  # drop the columns no longer inside
            first += 1
        if len(inside) >= MATCHES:
            return True
    return False


def _as_aligned(values: dict[str, float], aligned: dict[float, list[int]]) -> bool:
    at: dict[int, set[str]] = defaultdict(set)
    for column, value in values.items():
        for position in aligned.get(value, ()):
            at[position].add(column)
    return any(len(columns) >= MATCHES for columns in at.values())


def landed_applicants(warehouse: Path) -> Applicants:
    """Every applicant of the feature store, with the raw application columns the store does
    not hold beside its features."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        store = con.execute("SELECT * EXCLUDE (month, TARGET) FROM features.feature_store").df()
        raw = con.execute("SELECT * EXCLUDE (month, TARGET) FROM raw.application").df()
    raw_only = ["SK_ID_CURR", *(c for c in raw.columns if c not in store.columns)]
    return Applicants(store.merge(raw[raw_only], on="SK_ID_CURR", how="outer"))


def text_files(*roots: Path) -> list[Path]:
    """Every file under ``roots`` that reads as UTF-8 text (model binaries are skops zips of
    the fitted estimators: split thresholds and calibration steps, no rows)."""
    found = []
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            try:
                path.read_text("utf-8")
            except UnicodeDecodeError:
                continue
            found.append(path)
    return found


def applicant_rows_in(files: list[Path], applicants: Applicants) -> dict[str, list[int]]:
    """{file: ids of the applicants whose row it holds}, for the files that hold any."""
    found = {}
    for path in files:
        ids = rows_in_text(path.read_text("utf-8"), applicants)
        if ids:
            found[str(path)] = ids[:5]
    return found


def aligned_arrays_json(frame: pd.DataFrame) -> str:
    """How a plotting page stores whole sampled rows: one ``{"x": positions, "y": values}``
    trace per column (the positive control of the scan)."""
    positions = np.arange(len(frame)).tolist()
    traces = [
        f'{{"name": "{c}", "x": {positions}, "y": {frame[c].astype(float).tolist()}}}'
        for c in frame.columns
    ]
    return "[" + ", ".join(traces) + "]"
