"""One applicant's tables from a JSON request, checked by the landing contracts, in DuckDB.

A request carries the ``application`` row and the applicant's child rows of every other Home
Credit table, in the Kaggle column names. It is checked in three steps, and a failing step
stops the request with every problem it found (table, row, column, rule, offending value):

1. **shape and types** (the JSON analogue of the landing files' ``columns_and_types`` check):
   exactly the table's columns (``TARGET`` may be left out), integer columns hold JSON
   integers and no null, float columns numbers or null, text columns strings or null;
2. **ownership**: every child row names the request's applicant, and every ``bureau_balance``
   row one of that applicant's ``bureau`` rows — in a batch, rows may not cross applicants;
3. **the landing contracts themselves**, run in DuckDB on the staged rows: the same pandera
   value rules (``contracts.values_sql``), primary and foreign keys (``contracts.keys``).

The staged tables are ``raw.<table>`` of an in-memory DuckDB with one ``month`` value, which is
exactly what the feature store's SQL files read: online features run the batch SQL unchanged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from operator import itemgetter

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from creditplatform.contracts.arrow_rules import accepted
from creditplatform.contracts.keys import foreign_key_violations, primary_key_violations
from creditplatform.contracts.report import Violation
from creditplatform.contracts.schemas import schema_for
from creditplatform.contracts.values_sql import value_rule_violations
from creditplatform.features.store import columns_read, online_feature_query
from creditplatform.homecredit import TABLE_NAMES, TABLES
from creditplatform.sql import ident

APPLICATION = "application"
CHILD_TABLES = TABLE_NAMES[1:]
# The month every staged row carries: the feature SQL selects ``WHERE month = $month``.
ONLINE_MONTH = "online"
_ARROW_TYPES = {"int64": pa.int64(), "float64": pa.float64(), "str": pa.string()}
_OPTIONAL = {(APPLICATION, "TARGET")}
_TABLE_KEYS = set(TABLE_NAMES)
_STAGED = "staged_rows"
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class Problem:
    """One reason a request is refused; ``row`` is 0-based in the request's list for a table."""

    table: str | None
    column: str | None
    rule: str
    value: object = None
    row: int | None = None
    applicant: int | None = None

    @property
    def message(self) -> str:
        where = ".".join(p for p in (self.table, self.column) if p) or "request"
        at = f"{self.table}[{self.row}]" if self.row is not None and self.table else None
        if at and self.table != APPLICATION:
            where = f"{at}.{self.column}" if self.column else at
        who = f"applicant {self.applicant}: " if self.applicant is not None else ""
        value = "" if self.value is None else f" (value {self.value!r})"
        return f"{who}{where}: rule {self.rule} failed{value}"

    def as_dict(self) -> dict:
        return {**asdict(self), "message": self.message}


class Rejected(Exception):
    """The request breaks a contract; nothing was scored."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems[:5]))
        self.problems = problems


def _type_rule(dtype: str, value: object, optional: bool) -> str | None:
    """The rule ``value`` breaks as a value of a ``dtype`` column, or None."""
    if value is None:
        return None if dtype != "int64" or optional else "not_nullable"
    if isinstance(value, bool):
        return f"is_{'integer' if dtype == 'int64' else 'number' if dtype == 'float64' else 'text'}"
    if isinstance(value, int) and not _INT64_MIN <= value <= _INT64_MAX and dtype != "str":
        return "within_int64_range"
    if dtype == "int64":
        return None if isinstance(value, int) else "is_integer"
    if dtype == "float64":
        return None if isinstance(value, int | float) else "is_number"
    return None if isinstance(value, str) else "is_text"


def _row_problems(table: str, row: object, index: int, applicant: int | None) -> list[Problem]:
    spec = TABLES[table]
    if not isinstance(row, dict):
        return [Problem(table, None, "is_object", row, index, applicant)]
    found = [
        Problem(table, column, "column_present", None, index, applicant)
        for column in spec.columns
        if column not in row and (table, column) not in _OPTIONAL
    ]
    found += [
        Problem(table, str(column), "column_expected", None, index, applicant)
        for column in row
        if column not in spec.dtypes
    ]
    for column, value in row.items():
        dtype = spec.dtypes.get(column)
        rule = dtype and _type_rule(dtype, value, (table, column) in _OPTIONAL)
        if rule:
            found.append(Problem(table, column, rule, value, index, applicant))
    return found


def _rows(applicant: dict, table: str) -> list:
    value = applicant[table]  # present: checked before any row is read
    return [value] if table == APPLICATION else value


def shape_problems(applicant: object, index: int | None = None) -> list[Problem]:
    """Steps 1 and 2: tables present, columns exact, values typed, rows owned by the applicant."""
    if not isinstance(applicant, dict):
        return [Problem(None, None, "is_object", None, None, index)]
    found = [
        Problem(str(t), None, "table_expected", None, None, index)
        for t in applicant
        if t not in TABLES
    ]
    for table in TABLE_NAMES:
        value = applicant.get(table)
        if value is None:
            found.append(Problem(table, None, "table_present", None, None, index))
        elif table == APPLICATION and not isinstance(value, dict):
            found.append(Problem(table, None, "is_object", None, None, index))
        elif table != APPLICATION and not isinstance(value, list):
            found.append(Problem(table, None, "is_list", None, None, index))
        else:
            for row, item in enumerate(_rows(applicant, table)):
                found += _row_problems(table, item, row, index)
    if found:
        return found
    return _ownership_problems(applicant, index)


def _ownership_problems(applicant: dict, index: int | None) -> list[Problem]:
    applicant_id = applicant[APPLICATION]["SK_ID_CURR"]
    rule = f"belongs_to_applicant(SK_ID_CURR={applicant_id})"
    found = [
        Problem(table, "SK_ID_CURR", rule, row["SK_ID_CURR"], i, index)
        for table in CHILD_TABLES
        if "SK_ID_CURR" in TABLES[table].dtypes
        for i, row in enumerate(applicant[table])
        if row["SK_ID_CURR"] != applicant_id
    ]
    bureaus = {row["SK_ID_BUREAU"] for row in applicant["bureau"]}
    found += [
        Problem("bureau_balance", "SK_ID_BUREAU", "references this applicant's bureau rows",
                row["SK_ID_BUREAU"], i, index)
        for i, row in enumerate(applicant["bureau_balance"])
        if row["SK_ID_BUREAU"] not in bureaus
    ]  # fmt: skip
    return found


_NONE = type(None)
# The Python types a JSON value of each declared type may have (bool is not an int here).
_JSON_TYPES: dict[str, set[type]] = {
    "int64": {int},
    "float64": {int, float, _NONE},
    "str": {str, _NONE},
}


def _column(table: str, column: str, values: list) -> pa.Array | None:
    """One column typed as declared, or None when a value is not exactly right."""
    dtype = TABLES[table].dtypes[column]
    allowed = _JSON_TYPES[dtype] | ({_NONE} if (table, column) in _OPTIONAL else set())
    kinds = set(map(type, values))
    if not kinds <= allowed:
        return None
    if (
        dtype == "float64"
        and int in kinds
        and not all(_INT64_MIN <= v <= _INT64_MAX for v in values if type(v) is int)
    ):
        return None
    try:
        return pa.array(values, _ARROW_TYPES[dtype])
    except (pa.ArrowException, OverflowError):
        return None


def _exact_keys(table: str, rows: list) -> bool:
    """Every row is an object with exactly the table's columns (``TARGET`` may be left out).

    Counted rather than compared as sets, and tested a whole table at a time (``set(map(...))``
    runs in C; a Python test per row was a third of a large batch's conversion): a row that
    also has every column ``_arrow_table`` reads and this many keys has no other.
    """
    if not rows:
        return True
    width = len(TABLES[table].columns)
    if set(map(type, rows)) != {dict}:
        return False
    if table != APPLICATION:
        return set(map(len, rows)) == {width}
    return all(len(row) == (width if "TARGET" in row else width - 1) for row in rows)


def _arrow_table(table: str, applicants: Sequence[dict]) -> pa.Table | None:
    """One table's rows of every applicant, typed as declared, with ``_row`` (1-based, global);
    None when any row is not exactly right (then ``shape_problems`` says what is wrong).

    Built column by column with one type test per column (``set(map(type, ...))``): checking
    1.6M values of a 1,000-applicant batch one by one in Python took three times as long as the
    contracts and features together, and Arrow's own row-wise conversion cost ~3 ms a table
    even for one applicant. A float or bool in an integer column, a number in a text column,
    a null integer or one outside int64 each fail the test.
    """
    spec = TABLES[table]
    rows = [row for applicant in applicants for row in _rows(applicant, table)]
    if not _exact_keys(table, rows):
        return None
    columns = {
        "month": pa.array([ONLINE_MONTH] * len(rows), pa.string()),
        "_row": pa.array(range(1, len(rows) + 1), pa.int64()),
    }
    for column in spec.columns:
        get = (lambda row: row.get("TARGET")) if column == "TARGET" else itemgetter(column)
        try:
            values = list(map(get, rows))
        except KeyError:
            return None
        array = _column(table, column, values)
        if array is None:
            return None
        columns[column] = array
    return pa.table(columns)


def _owned(applicants: Sequence[dict], tables: dict[str, pa.Table]) -> bool:
    """Every child row names its applicant; every bureau_balance row one of its bureau rows."""
    ids = np.array([a[APPLICATION]["SK_ID_CURR"] for a in applicants], dtype=np.int64)
    for table in CHILD_TABLES:
        if "SK_ID_CURR" not in TABLES[table].dtypes:
            continue
        owners = np.repeat(ids, [len(a[table]) for a in applicants])
        if not np.array_equal(owners, tables[table]["SK_ID_CURR"].to_numpy()):
            return False
    return all(
        row["SK_ID_BUREAU"] in bureaus
        for applicant in applicants
        for bureaus in [{b["SK_ID_BUREAU"] for b in applicant["bureau"]}]
        for row in applicant["bureau_balance"]
    )


def _well_formed(applicant: object) -> bool:
    return (
        type(applicant) is dict
        and applicant.keys() == _TABLE_KEYS
        and type(applicant[APPLICATION]) is dict
        and all(type(applicant[t]) is list for t in CHILD_TABLES)
    )


def staged_tables(applicants: Sequence[dict], batch: bool) -> dict[str, pa.Table]:
    """Steps 1 and 2 for every applicant: the typed tables, or ``Rejected`` with every problem.

    The fast path (Arrow) decides only "all fine"; anything else is re-checked value by value
    by ``shape_problems``, which names the problems.
    """
    tables = None
    if all(_well_formed(a) for a in applicants):
        tables = {t: _arrow_table(t, applicants) for t in TABLE_NAMES}
        if any(t is None for t in tables.values()) or not _owned(applicants, tables):
            tables = None
    if tables is None:
        found = [
            p
            for i, applicant in enumerate(applicants)
            for p in shape_problems(applicant, i if batch else None)
        ]
        # The column test is stricter than the contract only for what the contract also
        # refuses; should the two ever disagree, the request fails loudly rather than pass.
        raise Rejected(found or [Problem(None, None, "arrow_conversion")])
    return tables


def _locate(applicants: Sequence[dict], table: str) -> list[tuple[int, int]]:
    """(applicant, row within that applicant's list) of each staged row (``_row`` - 1)."""
    return [(a, i) for a, applicant in enumerate(applicants)
            for i in range(len(_rows(applicant, table)))]  # fmt: skip


def _problems_of(violation: Violation, applicants: Sequence[dict], batch: bool) -> list[Problem]:
    where = _locate(applicants, violation.table)
    found = []
    for case in violation.cases:
        applicant, row = where[int(case["row"]) - 1] if "row" in case else (None, None)
        value = (
            case.get("value")
            if "value" in case
            else {k: v for k, v in case.items() if k not in ("row", "occurrences")}
        )
        found.append(
            Problem(violation.table, violation.column, violation.rule, value, row,
                    applicant if batch else None)
        )  # fmt: skip
    return found


def _ref(table: str) -> str:
    """The name the feature SQL reads."""
    return f"raw.{ident(TABLES[table].asset_name)}"


class _Slot:
    """An Arrow stream whose table is swapped between passes (the Arrow PyCapsule protocol).

    DuckDB scans a registered object each time a query runs, by asking it for a stream. The
    feature statement is prepared once over views of these slots, so a pass only swaps the
    tables in: no DDL, no copy into DuckDB, no re-planning (planning the feature SQL took more
    time than running it on one applicant).
    """

    def __init__(self, table: pa.Table) -> None:
        self.table = table

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        return self.table.__arrow_c_stream__(requested_schema)


class FeatureStatement:
    """One thread's DuckDB connection, its slots and the prepared feature statement."""

    STATEMENT = "online_features"

    def __init__(self, query: str, columns: dict[str, list[str]]) -> None:
        self.columns = columns
        self.con = duckdb.connect(":memory:", config={"threads": 1})
        self.con.execute("CREATE SCHEMA raw")
        self.slots: dict[str, _Slot] = {}
        self._empty = {
            table: pa.table({c: pa.array([], _column_type(table, c)) for c in columns[table]})
            for table in TABLE_NAMES
        }
        for table in TABLE_NAMES:
            self.slots[table] = _Slot(self._empty[table])
            self.con.register(f"slot_{table}", self.slots[table])
            self.con.execute(f"CREATE VIEW {_ref(table)} AS SELECT * FROM slot_{table}")
        self.con.execute(f"PREPARE {self.STATEMENT} AS {query}")
        self._execute = f"EXECUTE {self.STATEMENT}"

    def features(self, tables: dict[str, pa.Table]) -> pa.Table:
        for table in TABLE_NAMES:
            self.slots[table].table = tables[table].select(self.columns[table])
        try:
            return self.con.execute(self._execute).to_arrow_table()
        finally:  # the pass's rows are not kept by the connection
            for table in TABLE_NAMES:
                self.slots[table].table = self._empty[table]


def _column_type(table: str, column: str) -> pa.DataType:
    return pa.string() if column == "month" else _ARROW_TYPES[TABLES[table].dtypes[column]]


class OnlineFeatures:
    """Checks requests by the landing contracts and computes their features by the store's SQL.

    One DuckDB connection per serving thread (a connection is not safe to share between
    threads), each with the feature statement prepared once over swappable Arrow slots.
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._query = online_feature_query(ONLINE_MONTH)
        self._columns = {table: ["month", *columns] for table, columns in columns_read().items()}
        self._opened: list[duckdb.DuckDBPyConnection] = []
        self._lock = threading.Lock()

    def _pass(self) -> FeatureStatement:
        found = getattr(self._local, "pass_", None)
        if found is None:
            found = FeatureStatement(self._query, self._columns)
            self._local.pass_ = found
            with self._lock:
                self._opened.append(found.con)
        return found

    def close(self) -> None:
        """Close every thread's connection (at shutdown: DuckDB aborts the process at exit if a
        connection outlives the threads that used it)."""
        with self._lock:
            for con in self._opened:
                con.close()
            self._opened.clear()
        self._local = threading.local()

    @staticmethod
    def _explain(tables: dict[str, pa.Table], applicants: Sequence[dict], batch: bool) -> None:
        """Run the SQL contracts on the staged rows; raise ``Rejected`` with what they find.

        Only reached when the Arrow accept path said no, so speed does not matter here: the
        rows are copied into tables and the same explainers as a landed month name every
        problem (the 422 body is theirs).
        """
        refs = {table: _ref(table) for table in TABLE_NAMES}
        with duckdb.connect(":memory:", config={"threads": 1}) as con:
            con.execute("CREATE SCHEMA raw")
            for table in TABLE_NAMES:
                con.register(_STAGED, tables[table])
                con.execute(f"CREATE TABLE {refs[table]} AS SELECT * FROM {_STAGED}")
                con.unregister(_STAGED)
            violations: list[Violation] = []
            for table in TABLE_NAMES:
                spec, ref = TABLES[table], refs[table]
                violations += value_rule_violations(con, ref, schema_for(table))
                violations += primary_key_violations(con, ref, spec)
                violations += foreign_key_violations(con, ref, spec, refs)
        if violations:
            raise Rejected([p for v in violations for p in _problems_of(v, applicants, batch)])

    def compute(
        self, applicants: Sequence[dict], batch: bool = False, seconds: dict | None = None
    ) -> pd.DataFrame:
        """Feature rows (store columns, DOUBLE numerics) in the order of ``applicants``.

        Raises ``Rejected`` with every problem of the first failing step; ``batch`` names the
        applicant (its index in the request) in each problem. ``seconds`` (if given) receives
        the time of each stage: convert, contracts, features.
        """
        clock = _Stages(seconds)
        tables = staged_tables(applicants, batch)
        clock.lap("convert")
        if not accepted(tables):
            # Should SQL find nothing wrong where Arrow did, SQL (the reference) is trusted.
            self._explain(tables, applicants, batch)
        clock.lap("contracts")
        found = self._pass().features(tables)
        ids = np.array([applicant[APPLICATION]["SK_ID_CURR"] for applicant in applicants])
        order = pd.Index(found["SK_ID_CURR"].to_numpy()).get_indexer(ids)
        frame = found.take(pa.array(order)).to_pandas()
        clock.lap("features")
        return frame


class _Stages:
    """Seconds since the previous lap, recorded under each stage's name (if anyone asked)."""

    def __init__(self, seconds: dict | None) -> None:
        self.seconds, self.last = seconds, time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        if self.seconds is not None:
            self.seconds[stage] = now - self.last
        self.last = now
