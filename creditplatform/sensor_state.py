"""Sensor and automation state kept where the daemon keeps it: in the Dagster instance.

``creditplatform demo`` ticks the real sensors and the declarative automation itself, month by
month. If it kept their cursors in memory, a daemon started afterwards (``make ui``) would see
every landed month and every drift report as new and launch it all again. So the demo reads
and writes each sensor's cursor in the instance's instigator state under the same selector the
daemon looks up (code location and repository from ``workspace.yaml``, sensor name), stores the
automation cursor in the daemon's own encoding, and tags each run it executes for a sensor's
request with the run key and sensor name the daemon de-duplicates on.

Dagster exposes no public API for this (the daemon owns instigator state); these are its
storage types, used exactly as the daemon uses them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import dagster as dg
from dagster._core.definitions.asset_daemon_cursor import AssetDaemonCursor
from dagster._core.definitions.repository_definition.valid_definitions import (
    SINGLETON_REPOSITORY_NAME,
)
from dagster._core.remote_origin import RemoteInstigatorOrigin, RemoteRepositoryOrigin
from dagster._core.scheduler.instigation import (
    InstigatorState,
    InstigatorStatus,
    InstigatorType,
    SensorInstigatorData,
)
from dagster._core.storage.tags import RUN_KEY_TAG, SENSOR_NAME_TAG
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._daemon.asset_daemon import (
    asset_daemon_cursor_from_instigator_serialized_cursor,
    asset_daemon_cursor_to_instigator_serialized_cursor,
)

from creditplatform.settings import REPO_ROOT

WORKSPACE = REPO_ROOT / "workspace.yaml"


class InstanceSensorState:
    """Cursors of one code location's sensors, read from and written to the instance."""

    def __init__(self, instance: dg.DagsterInstance, defs: dg.Definitions, workspace: Path):
        (location,) = WorkspaceFileTarget(paths=[str(workspace)]).create_origins()
        self.instance, self.defs = instance, defs
        self.repository = RemoteRepositoryOrigin(location, SINGLETON_REPOSITORY_NAME)

    def _state(self, name: str) -> InstigatorState | None:
        origin = RemoteInstigatorOrigin(self.repository, name)
        return self.instance.get_instigator_state(origin.get_id(), origin.get_selector().get_id())

    def cursor(self, name: str) -> str | None:
        state = self._state(name)
        data = state.instigator_data if state else None
        return data.cursor if isinstance(data, SensorInstigatorData) else None

    def set_cursor(self, name: str, cursor: str | None) -> None:
        """Store ``cursor`` as the daemon would after a tick of sensor ``name``."""
        sensor = self.defs.resolve_sensor_def(name)
        state = self._state(name)
        data = SensorInstigatorData(
            cursor=cursor,
            min_interval=sensor.minimum_interval_seconds,
            sensor_type=sensor.sensor_type,
            last_sensor_start_timestamp=(
                state.instigator_data.last_sensor_start_timestamp
                if state and isinstance(state.instigator_data, SensorInstigatorData)
                else None
            ),
        )
        if state is None:
            origin = RemoteInstigatorOrigin(self.repository, name)
            self.instance.add_instigator_state(
                InstigatorState(
                    origin, InstigatorType.SENSOR, InstigatorStatus.DECLARED_IN_CODE, data
                )
            )
        else:
            self.instance.update_instigator_state(state.with_data(data))

    def automation_cursor(self, name: str) -> AssetDaemonCursor | None:
        stored = self.cursor(name)
        if stored is None:
            return None
        return asset_daemon_cursor_from_instigator_serialized_cursor(stored, None)

    def set_automation_cursor(self, name: str, cursor: AssetDaemonCursor) -> None:
        self.set_cursor(name, asset_daemon_cursor_to_instigator_serialized_cursor(cursor))

    def seen(self, sensor: str, run_key: str) -> bool:
        """Whether a run was already made for this sensor's run key (the daemon's own test)."""
        runs = self.instance.get_runs(
            filters=dg.RunsFilter(tags={RUN_KEY_TAG: run_key, SENSOR_NAME_TAG: sensor})
        )
        return bool(runs)


def request_tags(sensor: str, request: dg.RunRequest) -> dict[str, str]:
    """The tags a daemon-launched run of this request carries; the daemon skips a run key
    that a run with these tags already holds."""
    return {**request.tags, RUN_KEY_TAG: str(request.run_key), SENSOR_NAME_TAG: sensor}


def declared_resources(
    sensor: dg.SensorDefinition, resources: Mapping[str, object] | None
) -> dict[str, object]:
    """The resources ``sensor`` declares, out of all of them: what the daemon builds for a tick.

    A test or demo context given every resource builds every one at the tick, and ``mlflow``
    (dagster-mlflow's run of a Dagster run) would start an MLflow run there: a sensor has none.
    """
    return {k: v for k, v in (resources or {}).items() if k in sensor.required_resource_keys}


def tick_context(
    sensor: dg.SensorDefinition,
    instance: dg.DagsterInstance,
    resources: Mapping[str, object] | None,
    cursor: str | None = None,
    definitions: dg.Definitions | None = None,
) -> dg.SensorEvaluationContext:
    """A tick's context as the daemon builds it (only ``declared_resources``)."""
    return dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources=declared_resources(sensor, resources),
        definitions=definitions,
    )
