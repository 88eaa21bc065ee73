"""The model the service scores with: the verified champion, swapped atomically when it moves.

A request takes one reference to the current ``ServedModel`` and uses only it, so it is scored
by exactly one version even while a reload swaps the next one in. A reload loads and verifies
the new version completely before the swap; if that fails (tampered artifact, registry down, a
feature schema this code does not compute, a pipeline whose compiled form does not score its
probe rows bit for bit like it) the old champion keeps serving and the failure is reported. Why
the service polls the alias instead of being told by Dagster: the registry is the source of
truth and the service may run anywhere, in any number of replicas, none of which Dagster knows
of; polling needs no address book, cannot miss a message, and ``POST /admin/reload`` makes it
immediate when someone wants it to be.

The same holder, on the ``challenger`` alias, keeps the model that shadows the champion (staged
rollout): verified the same way, dropped when the alias leaves, and never in the response path.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from creditplatform.features.catalog import FEATURE_SCHEMA_VERSION
from creditplatform.ml.compiled_model import CompiledModel, verified
from creditplatform.ml.promotion import current_challenger
from creditplatform.ml.registry import CHAMPION, Registry, load_explained


@dataclass(frozen=True)
class ServedModel:
    version: int
    model: CompiledModel  # the pipeline compiled and verified equal to it on probe rows
    reason_reference: dict | None
    artifact_sha256: str
    feature_schema_version: int
    alias: str = CHAMPION
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class Reload:
    """What one reload did: ``outcome`` is loaded, unchanged, no_champion, no_challenger or
    failed."""

    outcome: str
    version: int | None
    detail: str = ""


class ChampionHolder:
    def __init__(self, registry: Registry, alias: str = CHAMPION) -> None:
        self._registry = registry
        self.alias = alias
        self._current: ServedModel | None = None
        self._reloading = threading.Lock()
        self.last_error = ""

    @property
    def current(self) -> ServedModel | None:
        return self._current

    def reload(self) -> Reload:
        """Re-read the alias; load and verify a new version before swapping it in."""
        with self._reloading:
            try:
                champion = self._target()
                if champion is None and self.alias != CHAMPION:
                    self._current = None  # the challenger was promoted, rejected or replaced
                    return Reload("no_challenger", None, "no version shadows the champion")
                if champion is None:
                    return Reload("no_champion", None, "the registry has no champion alias yet")
                if self._current and self._current.version == int(champion.version):
                    return Reload("unchanged", self._current.version)
                schema = int(champion.tags.get("feature_schema_version", -1))
                if schema != FEATURE_SCHEMA_VERSION:  # refused before anything is downloaded
                    raise ValueError(
                        f"v{champion.version} was trained on feature schema {schema}; this "
                        f"service computes schema {FEATURE_SCHEMA_VERSION}"
                    )
                pipeline, reference = load_explained(self._registry, champion)
                compiled = verified(pipeline, reference)
            except Exception as err:  # the old champion keeps serving; the reason is reported
                self.last_error = f"{type(err).__name__}: {err}"
                if self.alias != CHAMPION:  # no shadow rather than an older challenger's
                    self._current = None
                return Reload("failed", self._current.version if self._current else None,
                              self.last_error)  # fmt: skip
            self._current = ServedModel(
                int(champion.version), compiled, reference,
                champion.tags.get("artifact_sha256", ""), schema, self.alias,
            )  # fmt: skip
            self.last_error = ""
            return Reload("loaded", self._current.version)

    def _target(self):
        """The registered version the alias names now (None: none)."""
        if self.alias == CHAMPION:
            return self._registry.champion()
        version = current_challenger(self._registry)
        return None if version is None else self._registry.version(version)
