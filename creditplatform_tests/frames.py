"""Frames for contract tests: pandera (the reference) and the compiled SQL see the same values."""

from __future__ import annotations

import pandas as pd


def arrow_backed(frame: pd.DataFrame, column: str, row: int, value: float) -> pd.DataFrame:
    """The frame with Arrow-backed columns, where a NaN value stays distinct from a null (as
    in DuckDB and in the file), and ``value`` put at ``row`` of ``column``."""
    import pyarrow

    arrow = pd.DataFrame(
        {c: pd.Series(pyarrow.Array.from_pandas(frame[c]), dtype=pd.ArrowDtype(
            pyarrow.Array.from_pandas(frame[c]).type)) for c in frame}
    )  # fmt: skip
    values = pyarrow.Array.from_pandas(frame[column]).to_pylist()
    values[row] = value
    typed = pyarrow.array(values, type=pyarrow.float64(), from_pandas=False)
    arrow[column] = pd.Series(typed, dtype=pd.ArrowDtype(pyarrow.float64()))
    return arrow
