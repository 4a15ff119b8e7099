"""`Laps`: the wall seconds between the marks of a piece of work (where a run's time went)."""

from __future__ import annotations

import time
from collections.abc import Callable


class Laps:
    """`mark(name)` stores `seconds[f"{name}_seconds"]`, the wall seconds since the previous mark
    (or the start). `started_at` is the start in unix seconds, so that whoever launched the process
    can tell how long it took to get there (imports, CUDA start-up). `clock`: the seconds counter
    the marks read (a test's stand-in)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.started_at = time.time()
        self.seconds: dict[str, float] = {}
        self.clock = clock
        self._last = clock()

    def mark(self, name: str) -> None:
        now = self.clock()
        self.seconds[f"{name}_seconds"] = now - self._last
        self._last = now


class SharedClock:
    """Wall time shared among jobs that run at the same time: each interval between two events
    (a job starting or stopping) is split evenly among the units (runs) at work in it, so the
    shares of all units add up to the wall time the clock ran. `clock`: as in `Laps`."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self._last = clock()
        self._units: dict[object, int] = {}  # job -> its units
        self._share: dict[object, float] = {}  # job -> the seconds of each of its units

    def start(self, job: object, units: int = 1) -> None:
        """`job` (any hashable key) begins with `units` units at work."""
        self._advance()
        self._units[job], self._share[job] = units, 0.0

    def stop(self, job: object) -> float:
        """`job` ends: the seconds each of its units was given."""
        self._advance()
        del self._units[job]
        return self._share.pop(job)

    def _advance(self) -> None:
        now = self.clock()
        working = sum(self._units.values())
        for job, units in self._units.items():
            if units:
                self._share[job] += (now - self._last) / working
        self._last = now
