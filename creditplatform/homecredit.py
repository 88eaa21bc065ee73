"""The Home Credit tables as the landing contract knows them: names, column order, dtypes, keys.

Everything here is read from ``homecredit_profile.json``, which is extracted from the shared
schema document, so the generator, the importer and the contracts cannot disagree about a column.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

SENTINEL_DAYS = 365243


@dataclass(frozen=True)
class ForeignKey:
    """Child rows must point at a parent row of the same month (``columns`` → ``parent``).

    With several columns, the first locates the parent row and the rest must agree with it.
    """

    columns: tuple[str, ...]
    parent: str


@dataclass(frozen=True)
class TableSpec:
    """One landing file: its name, exact columns in order, and key relations."""

    name: str
    asset_name: str
    columns: tuple[str, ...]
    dtypes: dict[str, str]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...] = field(default=())

    @property
    def file_name(self) -> str:
        return f"{self.name}.csv"

    def duckdb_types(self) -> dict[str, str]:
        """DuckDB column types used to parse the CSV strictly (a stray text value is a reject)."""
        mapping = {"int64": "BIGINT", "float64": "DOUBLE", "str": "VARCHAR"}
        return {c: mapping[self.dtypes[c]] for c in self.columns}


@cache
def profile() -> dict[str, list[dict]]:
    """Per-table column profile (dtype, null rate, range, levels) from the schema document."""
    text = resources.files("creditplatform").joinpath("homecredit_profile.json").read_text("utf-8")
    return json.loads(text)


def _columns(table: str) -> tuple[tuple[str, ...], dict[str, str]]:
    cols = profile()[table]
    dtypes = {c["name"]: c["dtype"] for c in cols}
    return tuple(c["name"] for c in cols), dtypes


def _spec(name: str, pk: tuple[str, ...], fks: tuple[ForeignKey, ...] = ()) -> TableSpec:
    columns, dtypes = _columns(name)
    return TableSpec(name, name.lower(), columns, dtypes, pk, fks)


_CURR = ForeignKey(("SK_ID_CURR",), "application")
_PREV = ForeignKey(("SK_ID_PREV",), "previous_application")
# A row carrying both keys must name the applicant its previous application belongs to;
# otherwise it would be attributed to one of two applicants silently.
_PREV_PAIR = ForeignKey(("SK_ID_PREV", "SK_ID_CURR"), "previous_application")
_PREV_CHILD = (_PREV, _CURR, _PREV_PAIR)

TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        _spec("application", ("SK_ID_CURR",)),
        _spec("bureau", ("SK_ID_BUREAU",), (_CURR,)),
        _spec(
            "bureau_balance",
            ("SK_ID_BUREAU", "MONTHS_BALANCE"),
            (ForeignKey(("SK_ID_BUREAU",), "bureau"),),
        ),
        _spec("previous_application", ("SK_ID_PREV",), (_CURR,)),
        _spec("POS_CASH_balance", ("SK_ID_PREV", "MONTHS_BALANCE"), _PREV_CHILD),
        # Partial payments give several rows per instalment: the real file has no unique key.
        _spec("installments_payments", (), _PREV_CHILD),
        _spec("credit_card_balance", ("SK_ID_PREV", "MONTHS_BALANCE"), _PREV_CHILD),
    )
}

TABLE_NAMES: tuple[str, ...] = tuple(TABLES)
