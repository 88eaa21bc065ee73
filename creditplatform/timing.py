"""Wall and CPU seconds of the consecutive phases of one piece of work.

CPU is the whole process's (every thread, DuckDB's included): on a machine with N cores a phase
whose CPU seconds are near N times its wall seconds is bound by the cores, not by waiting, so
only doing less work makes it faster. No Dagster import.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Phases:
    seconds: dict[str, dict[str, float]] = field(default_factory=dict)
    _wall: float = field(default_factory=time.perf_counter)
    _cpu: float = field(default_factory=time.process_time)

    def mark(self, phase: str) -> None:
        """End ``phase`` now (it began at the previous mark, or when this object was made)."""
        wall, cpu = time.perf_counter(), time.process_time()
        self.seconds[phase] = {
            "wall": round(wall - self._wall, 3),
            "cpu": round(cpu - self._cpu, 3),
        }
        self._wall, self._cpu = wall, cpu
