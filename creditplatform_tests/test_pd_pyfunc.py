"""The registered champion as a plain MLflow client sees it: a python_function model whose
``predict`` takes feature-store rows as stored and returns the PD that ``batch_scores`` holds.

The client runs in a fresh interpreter with nothing of ours imported by hand, only
``mlflow.pyfunc.load_model("models:/creditplatform-pd@champion")`` (the nested pipeline's
frame step imports ``creditplatform`` itself, as any skops load of it must).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest

from creditplatform_tests.conftest import point_at

CLIENT = """
import json, sys
import duckdb, mlflow
model = mlflow.pyfunc.load_model("models:/creditplatform-pd@champion")
with duckdb.connect(sys.argv[1], read_only=True) as con:
    rows = con.execute(
        "SELECT * FROM features.feature_store WHERE month = '2024-02' ORDER BY SK_ID_CURR"
    ).df()
pd_ = model.predict(rows)
proba = model.unwrap_python_model().pipeline.predict_proba(rows)
inputs = {c.name: c.type.name for c in model.metadata.get_input_schema().inputs}
print(json.dumps({
    "dtype": str(pd_.dtype), "shape": list(pd_.shape), "pd": pd_.tolist(),
    "proba_1": proba[:, 1].tolist(), "proba_rows_sum": proba.sum(axis=1).tolist(),
    "inputs": inputs,
    "outputs": [str(o) for o in model.metadata.get_output_schema().inputs],
}))
"""


@pytest.fixture
def platform(platform_base, _isolated_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    base, _ = platform_base
    shutil.copytree(base, _isolated_data_dir)
    point_at(monkeypatch, _isolated_data_dir)
    return _isolated_data_dir


def test_plain_mlflow_client_gets_the_batch_pd(platform: Path):
    warehouse = platform / "warehouse.duckdb"
    # A plain client finds our store the MLflow way: MLFLOW_TRACKING_URI.
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{platform / 'mlflow' / 'mlflow.db'}"}
    out = subprocess.run(
        [sys.executable, "-c", CLIENT, str(warehouse)],
        capture_output=True, text=True, check=False, cwd=platform, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    with duckdb.connect(str(warehouse), read_only=True) as con:
        batch = con.execute(
            "SELECT pd FROM scores.batch_scores WHERE month = '2024-02' ORDER BY SK_ID_CURR"
        ).fetchnumpy()["pd"]
    assert seen["dtype"] == "float64" and seen["shape"] == [len(batch)]
    np.testing.assert_array_equal(np.asarray(seen["pd"]), batch)
    # predict is predict_proba's default column; both columns still add up to one.
    np.testing.assert_array_equal(np.asarray(seen["proba_1"]), batch)
    np.testing.assert_allclose(seen["proba_rows_sum"], 1.0)
    # The signature names the stored types: DOUBLE numerics and VARCHAR categories.
    assert seen["inputs"]["REGION_RATING_CLIENT"] == "double"
    assert seen["inputs"]["NAME_CONTRACT_TYPE"] == "string"
    assert seen["outputs"] == ["Tensor('float64', (-1,))"]
