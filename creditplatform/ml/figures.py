"""Figure plumbing shared by the evaluation and drift pages: headless PNGs, PD histogram bins."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display: assets run in daemons, CI and code servers
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

# ``plt`` is imported from here, so Agg is chosen before pyplot loads.
__all__ = ["pd_bins", "plt", "png"]


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes (closed afterwards, so long runs do not accumulate figures)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def pd_bins(values: np.ndarray, count: int = 40) -> list[float]:
    """Histogram edges for PDs: 0 to just past the 99.5th percentile, so the few high PDs do
    not squeeze the bulk of the distribution into one bar."""
    edges = np.linspace(0, min(1.0, float(np.quantile(values, 0.995)) * 1.1), count)
    return [float(edge) for edge in edges]
