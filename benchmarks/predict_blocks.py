"""Prediction speed by block size: the champion scores every feature-store row in blocks of N.

Run by ``benchmarks.scale`` on the model and warehouse its Home Credit-scale run built (it is the
evidence for ``creditplatform.ml.model.PREDICT_BLOCK_ROWS``); on its own, against a data dir
that holds a champion and its feature store:

    CREDITPLATFORM_DATA_DIR=... python -m benchmarks.predict_blocks
"""

from __future__ import annotations

import json
import time

from creditplatform.settings import Settings, load_settings

BLOCKS = (2_000, 5_000, 10_000, 50_000, 0)  # 0: the whole frame in one call


def rows_per_second(settings: Settings) -> dict[str, int]:
    """Rows/s of ``predict_pd`` over the whole store, per block size (one call = "all")."""
    from creditplatform.features.store import STORE
    from creditplatform.ml.model import predict_pd
    from creditplatform.ml.registry import Registry, load_champion

    _, model = load_champion(Registry.for_settings(settings))
    with settings.warehouse.connect(read_only=True) as con:
        frame = con.execute(f"SELECT * FROM {STORE} ORDER BY month, SK_ID_CURR").df()
    model.predict_proba(frame.iloc[:1000])  # first-call set-up is nobody's block size
    found = {}
    for block in BLOCKS:
        started = time.perf_counter()
        predict_pd(model, frame, block or len(frame))
        found[str(block or "all")] = round(len(frame) / (time.perf_counter() - started))
    return found


if __name__ == "__main__":
    print(json.dumps(rows_per_second(load_settings())))
