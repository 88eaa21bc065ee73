"""The asset graph (keys, groups, partitions, code versions, dependencies, checks, jobs, sensors,
resources) is pinned by a syrupy snapshot.

A change to the graph must be deliberate: rerun with ``pytest --snapshot-update`` and commit
the new ``__snapshots__`` file together with the change. A missing snapshot fails the test.
"""

import dagster as dg
import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from creditplatform.definitions import defs


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


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
            "code_version": node.code_version,
        }
    repo = defs.get_repository_def()
    return {
        "assets": assets,
        "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
        "sensors": sorted(s.name for s in repo.sensor_defs),
        "schedules": sorted(s.name for s in repo.schedule_defs),
        "resources": sorted(repo.get_top_level_resources()),
    }


def test_asset_graph_matches_snapshot(snapshot_json):
    assert describe_graph() == snapshot_json


def test_every_raw_table_is_a_partitioned_asset_with_blocking_contracts():
    assets = describe_graph()["assets"]
    raw = {k: v for k, v in assets.items() if k.startswith("raw/")}
    assert len(raw) == 7
    for key, node in raw.items():
        assert node["partitions"] == "monthly from 2024-01 (%Y-%m)", key
        assert node["checks"] == node["blocking_checks"], key
        assert {"columns_and_types", "value_rules"} <= set(node["checks"]), key
