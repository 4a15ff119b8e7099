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
