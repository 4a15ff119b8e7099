"""`Laps`: the wall seconds between the marks of a piece of work (where a run's time went)."""

from __future__ import annotations

import time


class Laps:
    """`mark(name)` stores `seconds[f"{name}_seconds"]`, the wall seconds since the previous mark
    (or the start). `started_at` is the start in unix seconds, so that whoever launched the process
    can tell how long it took to get there (imports, CUDA start-up)."""

    def __init__(self) -> None:
        self.started_at = time.time()
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[f"{name}_seconds"] = now - self._last
        self._last = now
