"""The IO manager the retrain assets hand records through: JSON of allowed record types only,
for assets and for ops alike."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from creditplatform.defs.resources import JsonIOManager
from creditplatform.ml.records import ModelParams, SplitsInfo, decode_record


@dg.op
def splits() -> SplitsInfo:
    return SplitsInfo("abc", ["2024-01"], "2024-01", {"train": 3}, {"train": 0.25}, seed=7)


@dg.op
def window(info: SplitsInfo) -> list[str]:
    return [*info.window, info.oot_month]


def test_an_op_reads_the_record_its_upstream_op_wrote(tmp_path: Path):
    @dg.job(resource_defs={"io_manager": JsonIOManager(base_dir=str(tmp_path))})
    def handoff():
        window(splits())

    result = handoff.execute_in_process()
    assert result.success
    assert result.output_for_node("window") == ["2024-01", "2024-01"]
    stored = json.loads((tmp_path / "splits" / "result.json").read_text())
    assert stored["type"] == "SplitsInfo" and stored["value"]["seed"] == 7


def test_only_known_record_types_decode():
    assert decode_record({"type": "json", "value": [1, 2]}) == [1, 2]
    with pytest.raises(ValueError, match="unknown type 'ModelParams'"):
        decode_record({"type": "ModelParams", "value": ModelParams().as_dict()})
    with pytest.raises(ValueError, match="not an object"):
        decode_record({"type": "SplitsInfo", "value": None})
