"""How the assets show themselves in the Dagster UI: tables, embedded plots, links, schemas.

Only presentation lives here (Dagster metadata values built from plain data); the numbers come
from the pure modules.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping

import dagster as dg
import pandera.pandas as pa

_DAGSTER_TYPES = {"BIGINT": "int", "DOUBLE": "float", "VARCHAR": "string", "INTEGER": "int"}


def column_schema(columns: Mapping[str, str], contract: pa.DataFrameSchema) -> dg.TableSchema:
    """``dagster/column_schema`` from column → DuckDB type, each column's constraints
    (nullable, unique, its checks as text) read from the pandera ``contract`` that enforces
    them, so the UI shows the rules that run, not a second copy of them. A column the contract
    does not hold (the ``month`` the warehouse adds) is shown with its type only."""

    def constraints(name: str) -> dg.TableColumnConstraints | None:
        column = contract.columns.get(name)
        if column is None:
            return None
        return dg.TableColumnConstraints(
            nullable=column.nullable, unique=column.unique,
            other=[str(check.name) for check in column.checks],
        )  # fmt: skip

    return dg.TableSchema(
        columns=[dg.TableColumn(name, _DAGSTER_TYPES.get(kind, kind.lower()),
                                constraints=constraints(name))
                 for name, kind in columns.items()]
    )  # fmt: skip


def pngs(plots: Mapping[str, bytes]) -> dg.MetadataValue:
    """Plots embedded in the asset page: the UI renders base64 images in a markdown value."""
    return dg.MetadataValue.md(
        "\n\n".join(
            f"**{name.replace('_', ' ')}**\n\n"
            f"![{name}](data:image/png;base64,{base64.b64encode(data).decode()})"
            for name, data in plots.items()
        )
    )


def _cell(value: object) -> str | int | float | bool | None:
    """A table cell as Dagster holds it: a plain scalar, anything else as its text."""
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def table(rows: Iterable[Mapping[str, object]], columns: Mapping[str, str]) -> dg.MetadataValue:
    """``MetadataValue.table`` from dict rows; ``columns`` maps name → Dagster type."""
    schema = dg.TableSchema(columns=[dg.TableColumn(n, t) for n, t in columns.items()])
    records = [dg.TableRecord({n: _cell(row.get(n)) for n in columns}) for row in rows]
    return dg.MetadataValue.table(records, schema)


def mlflow_run_url(ui_url: str, experiment_id: str, run_id: str) -> dg.MetadataValue:
    return dg.MetadataValue.url(f"{ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}")


def mlflow_version_url(ui_url: str, model: str, version: int) -> dg.MetadataValue:
    return dg.MetadataValue.url(f"{ui_url.rstrip('/')}/#/models/{model}/versions/{version}")


def dagster_run_url(ui_url: str, run_id: str) -> str:
    return f"{ui_url.rstrip('/')}/runs/{run_id}"


def _interval(ci: list | None) -> str | None:
    return None if not ci else f"[{ci[0]:.4f}, {ci[1]:.4f}]"


def metrics_table(metrics: Mapping[str, Mapping[str, Mapping]]) -> dg.MetadataValue:
    """Evaluation metrics, one row per (set, model): candidate, champion and baseline side by
    side on the same rows, each interval (``*_ci``) as "[lo, hi]" beside its metric."""
    first = next(iter(next(iter(metrics.values())).values()))
    numbers = [k for k, v in first.items() if isinstance(v, int | float)]
    intervals = [k for k in first if k.endswith("_ci")]
    rows = [
        {"set": set_name, "model": model, **{k: values[k] for k in numbers},
         **{k: _interval(values.get(k)) for k in intervals}}
        for set_name, per_model in metrics.items()
        for model, values in per_model.items()
    ]  # fmt: skip
    return table(rows, {"set": "string", "model": "string", **dict.fromkeys(numbers, "float"),
                        **dict.fromkeys(intervals, "string")})  # fmt: skip


def comparisons_table(comparisons: Mapping) -> dg.MetadataValue:
    """The candidate's paired ROC-AUC differences (DeLong) per set."""
    rows = [
        {"set": set_name, "comparison": name, "difference": pair.get("difference"),
         "ci_lo": (pair.get("ci") or [None, None])[0], "ci_hi": (pair.get("ci") or [None, None])[1],
         "p_value": pair.get("p_value"), "note": pair.get("error")}
        for set_name, pairs in comparisons.items() if isinstance(pairs, Mapping)
        and set_name != "methods"
        for name, pair in pairs.items()
    ]  # fmt: skip
    return table(rows, {"set": "string", "comparison": "string", "difference": "float",
                        "ci_lo": "float", "ci_hi": "float", "p_value": "float",
                        "note": "string"})  # fmt: skip


def gates_table(gates: Mapping) -> dg.MetadataValue:
    """The promotion gates as a table (or the reason no gate ran: a stale evaluation)."""
    rows = gates.get("gates") or [
        {
            "name": k,
            "passed": False,
            "candidate": None,
            "reference": None,
            "limit": None,
            "reason": str(v),
        }
        for k, v in gates.items()
    ]
    return table(
        rows,
        {
            "name": "string",
            "passed": "bool",
            "candidate": "float",
            "reference": "float",
            "limit": "float",
            "reason": "string",
        },
    )
