"""The bad landings the contracts must refuse, and how each spoils a good month folder.

Shared by the command-level suite (``test_bad_landings``) and the Dagster check-level one
(``test_raw_ingest``). Each case names the table, column, rule and the file line the
message must show.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from creditplatform.homecredit import TABLES


def _path(folder: Path, table: str) -> Path:
    return folder / TABLES[table].file_name


def _lines(folder: Path, table: str) -> list[str]:
    return _path(folder, table).read_text("utf-8").splitlines(keepends=True)


def _write(folder: Path, table: str, lines: list[str]) -> None:
    _path(folder, table).write_text("".join(lines), "utf-8")


def _fields(line: str) -> list[str]:
    return next(csv.reader([line.rstrip("\r\n")]))


def _quoted(field: str) -> str:
    return '"' + field.replace('"', '""') + '"' if any(c in field for c in ',"\r\n') else field


def _joined(fields: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(fields)
    return out.getvalue()


def cell(table: str, column: str, text: str, row: int = 3) -> Callable[[Path], None]:
    """Put the raw ``text`` (quotes and all) in one field of data row ``row`` (file line
    ``row + 1``); the other fields are written back quoted where CSV needs it."""

    def spoil(folder: Path) -> None:
        lines = _lines(folder, table)
        fields = [_quoted(f) for f in _fields(lines[row])]
        fields[_fields(lines[0]).index(column)] = text
        lines[row] = ",".join(fields) + "\n"
        _write(folder, table, lines)

    return spoil


def line_edit(table: str, edit: Callable[[list[str]], list[str]]) -> Callable[[Path], None]:
    def spoil(folder: Path) -> None:
        _write(folder, table, edit(_lines(folder, table)))

    return spoil


def header_edit(table: str, edit: Callable[[list[str]], list[str]]) -> Callable[[Path], None]:
    return line_edit(table, lambda ls: [_joined(edit(_fields(ls[0]))), *ls[1:]])


def drop_column(table: str, column: str) -> Callable[[Path], None]:
    def spoil(folder: Path) -> None:
        frame = pd.read_csv(_path(folder, table), dtype=str, keep_default_na=False)
        frame.drop(columns=[column]).to_csv(_path(folder, table), index=False)

    return spoil


def add_column(table: str, column: str) -> Callable[[Path], None]:
    def spoil(folder: Path) -> None:
        frame = pd.read_csv(_path(folder, table), dtype=str, keep_default_na=False)
        frame[column] = "1"
        frame.to_csv(_path(folder, table), index=False)

    return spoil


def swap_columns(table: str, a: int, b: int) -> Callable[[Path], None]:
    def swap(fields: list[str]) -> list[str]:
        fields[a], fields[b] = fields[b], fields[a]
        return fields

    def spoil(folder: Path) -> None:
        lines = _lines(folder, table)
        _write(folder, table, [_joined(swap(_fields(line))) for line in lines])

    return spoil


def raw_bytes(table: str, edit: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def spoil(folder: Path) -> None:
        path = _path(folder, table)
        path.write_bytes(edit(path.read_bytes()))

    return spoil


def same_id_as_row(table: str, column: str, row: int, source_row: int) -> Callable[[Path], None]:
    """Copy ``column`` of data row ``source_row`` into data row ``row`` (a duplicate key)."""

    def spoil(folder: Path) -> None:
        lines = _lines(folder, table)
        index = _fields(lines[0]).index(column)
        value = _fields(lines[source_row])[index]
        cell(table, column, value, row)(folder)

    return spoil


def mismatched_pair(table: str) -> Callable[[Path], None]:
    """Point a row's SK_ID_CURR at another applicant of the month (both keys exist)."""

    def spoil(folder: Path) -> None:
        apps = pd.read_csv(_path(folder, "application"), usecols=["SK_ID_CURR"])
        lines = _lines(folder, table)
        index = _fields(lines[0]).index("SK_ID_CURR")
        current = int(_fields(lines[3])[index])
        other = next(str(i) for i in apps["SK_ID_CURR"] if i != current)
        cell(table, "SK_ID_CURR", other, 3)(folder)

    return spoil


def delete(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).unlink()


def _second_line_bytes(data: bytes, old: bytes, new: bytes) -> bytes:
    lines = data.split(b"\n")
    lines[4] = lines[4].replace(old, new, 1)
    return b"\n".join(lines)


@dataclass(frozen=True)
class Bad:
    spoil: Callable[[Path], None]
    table: str  # "month" for a problem with the folder, not a file
    column: str | None
    rule: str
    line: int | None  # the file line the message must quote (None: file- or column-level)


COLUMN_RULES = {"column_present", "no_unexpected_column", "column_order"}
# Data row 3 is file line 4 (the header is line 1).
BAD: dict[str, Bad] = {
    # The file as a whole
    "missing_file": Bad(delete("bureau.csv"), "bureau", None, "missing file(s)", None),
    "no_success_marker": Bad(delete("_SUCCESS"), "month", None, "_SUCCESS", None),
    "empty_file": Bad(raw_bytes("credit_card_balance", lambda b: b""),
                      "credit_card_balance", None, "file_not_empty", None),
    "header_only_child": Bad(line_edit("bureau", lambda ls: ls[:1]),
                             "bureau", None, "at_least_one_row", None),
    "header_only_application": Bad(line_edit("application", lambda ls: ls[:1]),
                                   "application", None, "at_least_one_row", None),
    "utf16_file": Bad(raw_bytes("bureau_balance", lambda b: b.decode().encode("utf-16")),
                      "bureau_balance", None, "utf8_encoded", None),
    "latin1_byte": Bad(raw_bytes("previous_application",
                                 lambda b: _second_line_bytes(b, b"XAP", b"X\xe9P")),
                       "previous_application", None, "utf8_encoded", 5),
    # The header
    "missing_column": Bad(drop_column("application", "AMT_ANNUITY"),
                          "application", "AMT_ANNUITY", "column_present", None),
    "extra_column": Bad(add_column("bureau", "EXTRA_SCORE"),
                        "bureau", "EXTRA_SCORE", "no_unexpected_column", None),
    "renamed_column": Bad(header_edit("previous_application", lambda h: [
                              "AMT_CREDITS" if c == "AMT_CREDIT" else c for c in h]),
                          "previous_application", "AMT_CREDIT", "column_present", None),
    "reordered_columns": Bad(swap_columns("bureau_balance", 1, 2),
                             "bureau_balance", "STATUS", "column_order", None),
    "lowercase_header": Bad(header_edit("POS_CASH_balance", lambda h: [c.lower() for c in h]),
                            "POS_CASH_balance", "SK_ID_PREV", "column_present", None),
    "semicolon_delimited": Bad(line_edit("bureau_balance",
                                         lambda ls: [x.replace(",", ";") for x in ls]),
                               "bureau_balance", "SK_ID_BUREAU", "column_present", None),
    # Row structure
    "truncated_last_line": Bad(raw_bytes("installments_payments", lambda b: b[:-25]),
                               "installments_payments", None, "row_has_all_fields", None),
    "short_row_mid_file": Bad(line_edit("bureau", lambda ls: [*ls[:3], ls[3].rsplit(",", 3)[0]
                                                              + "\n", *ls[4:]]),
                              "bureau", None, "row_has_all_fields", 4),
    "extra_field": Bad(line_edit("bureau_balance",
                                 lambda ls: [*ls[:3], ls[3].rstrip("\n") + ",9\n", *ls[4:]]),
                       "bureau_balance", None, "row_has_no_extra_fields", 4),
    # Types
    "text_in_float": Bad(cell("application", "AMT_CREDIT", "abc"),
                         "application", "AMT_CREDIT", "parses_as_float64", 4),
    "thousands_separator": Bad(cell("application", "AMT_INCOME_TOTAL", '"135,000.0"'),
                               "application", "AMT_INCOME_TOTAL", "parses_as_float64", 4),
    "currency_symbol": Bad(cell("previous_application", "AMT_APPLICATION", "$1500.0"),
                           "previous_application", "AMT_APPLICATION", "parses_as_float64", 4),
    "text_in_int": Bad(cell("application", "CNT_CHILDREN", "two"),
                       "application", "CNT_CHILDREN", "integer_literal", 4),
    "decimal_in_int": Bad(cell("application", "CNT_CHILDREN", "1.5"),
                          "application", "CNT_CHILDREN", "integer_literal", 4),
    "decimal_id": Bad(cell("application", "SK_ID_CURR", "100002.7"),
                      "application", "SK_ID_CURR", "integer_literal", 4),
    "hex_int": Bad(cell("application", "DAYS_BIRTH", "0x10"),
                   "application", "DAYS_BIRTH", "integer_literal", 4),
    "float_formatted_int": Bad(cell("bureau", "CREDIT_DAY_OVERDUE", "2.0"),
                               "bureau", "CREDIT_DAY_OVERDUE", "integer_literal", 4),
    "int_overflow": Bad(cell("bureau_balance", "SK_ID_BUREAU", "99999999999999999999"),
                        "bureau_balance", "SK_ID_BUREAU", "integer_literal", 4),
    "blank_key": Bad(cell("bureau", "SK_ID_CURR", ""),
                     "bureau", "SK_ID_CURR", "not_nullable", 4),
    # Values
    "nan_literal": Bad(cell("application", "AMT_CREDIT", "nan"),
                       "application", "AMT_CREDIT", "finite", 4),
    "nan_in_optional_column": Bad(cell("application", "EXT_SOURCE_1", "NaN"),
                                  "application", "EXT_SOURCE_1", "finite", 4),
    "inf_literal": Bad(cell("application", "AMT_ANNUITY", "inf"),
                       "application", "AMT_ANNUITY", "finite", 4),
    "minus_infinity": Bad(cell("bureau", "AMT_CREDIT_SUM_DEBT", "-Infinity"),
                          "bureau", "AMT_CREDIT_SUM_DEBT", "finite", 4),
    "overflow_to_inf": Bad(cell("application", "AMT_INCOME_TOTAL", "1e999"),
                           "application", "AMT_INCOME_TOTAL", "finite", 4),
    "inf_in_card_balance": Bad(cell("credit_card_balance", "AMT_BALANCE", "Infinity"),
                               "credit_card_balance", "AMT_BALANCE", "finite", 4),
    "target_2": Bad(cell("application", "TARGET", "2"),
                    "application", "TARGET", "isin([0, 1])", 4),
    "negative_income": Bad(cell("application", "AMT_INCOME_TOTAL", "-135000.0"),
                           "application", "AMT_INCOME_TOTAL", "greater_than_or_equal_to(0)", 4),
    "born_in_the_future": Bad(cell("application", "DAYS_BIRTH", "120"),
                              "application", "DAYS_BIRTH", "less_than_or_equal_to(0)", 4),
    "ext_source_above_1": Bad(cell("application", "EXT_SOURCE_2", "1.5"),
                              "application", "EXT_SOURCE_2", "in_range(0, 1)", 4),
    "employed_in_the_future": Bad(cell("application", "DAYS_EMPLOYED", "10"),
                                  "application", "DAYS_EMPLOYED", "days_le_0_or_sentinel", 4),
    "unknown_status": Bad(cell("bureau_balance", "STATUS", "7"),
                          "bureau_balance", "STATUS", "isin(", 4),
    "hour_24": Bad(cell("previous_application", "HOUR_APPR_PROCESS_START", "24"),
                   "previous_application", "HOUR_APPR_PROCESS_START", "in_range(0, 23)", 4),
    "negative_payment_count": Bad(cell("previous_application", "CNT_PAYMENT", "-3.0"),
                                  "previous_application", "CNT_PAYMENT",
                                  "greater_than_or_equal_to(0)", 4),
    "future_balance_month": Bad(cell("POS_CASH_balance", "MONTHS_BALANCE", "4"),
                                "POS_CASH_balance", "MONTHS_BALANCE",
                                "less_than_or_equal_to(0)", 4),
    # Finite but not a loan book's (the plausibility bounds): an income keyed in cents, a
    # payment count with its digits repeated.
    "income_in_cents": Bad(cell("application", "AMT_INCOME_TOTAL", "13500000000.0"),
                           "application", "AMT_INCOME_TOTAL", "plausible_max(1000000000)", 4),
    "implausible_instalments": Bad(cell("previous_application", "CNT_PAYMENT", "1212121.0"),
                                   "previous_application", "CNT_PAYMENT",
                                   "plausible_max(10000)", 4),
    # Keys
    "duplicate_applicant": Bad(same_id_as_row("application", "SK_ID_CURR", 3, 2),
                               "application", "SK_ID_CURR", "unique(SK_ID_CURR)", 3),
    "duplicate_bureau_id": Bad(same_id_as_row("bureau", "SK_ID_BUREAU", 3, 2),
                               "bureau", "SK_ID_BUREAU", "unique(SK_ID_BUREAU)", 3),
    "orphan_bureau_balance": Bad(cell("bureau_balance", "SK_ID_BUREAU", "999999999"),
                                 "bureau_balance", "SK_ID_BUREAU",
                                 "references bureau(SK_ID_BUREAU)", 4),
    "orphan_bureau": Bad(cell("bureau", "SK_ID_CURR", "999999999"),
                         "bureau", "SK_ID_CURR", "references application(SK_ID_CURR)", 4),
    "orphan_previous_id": Bad(cell("POS_CASH_balance", "SK_ID_PREV", "999999999"),
                              "POS_CASH_balance", "SK_ID_PREV",
                              "references previous_application(SK_ID_PREV)", 4),
    "mismatched_key_pair": Bad(mismatched_pair("installments_payments"),
                               "installments_payments", "SK_ID_PREV, SK_ID_CURR",
                               "(SK_ID_PREV, SK_ID_CURR) matches previous_application", 4),
}  # fmt: skip
