"""Import the libraries a run's later steps need on a background thread, while its first step
works inside DuckDB.

Every run process (the daemon launches one per run; ``dagster asset materialize`` is one)
imports MLflow, scikit-learn, SciPy and skops the first time a step scores, trains or reads the
registry: a few seconds of single-threaded Python that used to start only after the ingest
step had finished. DuckDB's parsing and writing release the GIL, so the same imports overlap
the ingest instead. No Dagster import.
"""

from __future__ import annotations

import importlib
import threading

# What the feature store (registry look-up), drift and batch scores import first.
LATER_STEP_MODULES = (
    "mlflow",
    "mlflow.sklearn",
    "sklearn.ensemble",
    "sklearn.calibration",
    "scipy.stats",
    "skops.io",
    "creditplatform.ml.registry",
    "creditplatform.ml.monthly_drift",
    "creditplatform.ml.batch_scoring",
)

_thread: threading.Thread | None = None


def _import_all(modules: tuple[str, ...]) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:
            # The step that needs the module imports it again and reports the error itself.
            return


def preload(modules: tuple[str, ...] = LATER_STEP_MODULES) -> threading.Thread:
    """Start importing ``modules`` on a daemon thread (once per process); the thread is
    returned so a caller may wait for it, though nobody has to: a step importing a module the
    thread is still importing waits for it under Python's import lock."""
    global _thread
    if _thread is None:
        _thread = threading.Thread(
            target=_import_all, args=(modules,), name="preload-imports", daemon=True
        )
        _thread.start()
    return _thread
