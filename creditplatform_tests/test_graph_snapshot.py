"""The asset graph (keys, groups, partitions, dependencies, checks, jobs, sensors) is pinned.

A change to the graph must be deliberate: rerun with ``UPDATE_SNAPSHOTS=1`` and commit the new
snapshot together with the change.
"""

import json
import os
from pathlib import Path

import dagster as dg

from creditplatform.definitions import defs

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"


def _partitions(definition) -> str | None:
    if definition is None:
        return None
    if isinstance(definition, dg.MonthlyPartitionsDefinition):
        return f"monthly from {definition.start.strftime(definition.fmt)} ({definition.fmt})"
    return type(definition).__name__


def describe_graph() -> dict:
    graph = defs.resolve_asset_graph()
    pools = {key: a.node_def.pool for a in defs.assets for key in a.keys}
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "partitions": _partitions(node.partitions_def),
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "checks": sorted(c.name for c in node.check_keys),
            "blocking_checks": sorted(c.name for c in node.check_keys if graph.get(c).blocking),
            "pool": pools[key],
        }
    repo = defs.get_repository_def()
    return {
        "assets": assets,
        "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
        "sensors": sorted(s.name for s in repo.sensor_defs),
        "schedules": sorted(s.name for s in repo.schedule_defs),
    }


def test_asset_graph_matches_snapshot():
    current = describe_graph()
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    assert SNAPSHOT.exists(), "no snapshot: run with UPDATE_SNAPSHOTS=1 and commit it"
    assert current == json.loads(SNAPSHOT.read_text()), (
        "asset graph changed: if deliberate, rerun with UPDATE_SNAPSHOTS=1 and commit the snapshot"
    )


def test_every_raw_table_is_a_partitioned_asset_with_blocking_contracts():
    assets = describe_graph()["assets"]
    raw = {k: v for k, v in assets.items() if k.startswith("raw/")}
    assert len(raw) == 7
    for key, node in raw.items():
        assert node["partitions"] == "monthly from 2024-01 (%Y-%m)", key
        assert node["checks"] == node["blocking_checks"], key
        assert {"columns_and_types", "value_rules"} <= set(node["checks"]), key
