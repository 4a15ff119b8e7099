"""How many processes and threads runs use on a CPU: the one policy every executor follows.

- `usable_cores()`: the cores this process may run on.
- `threads_per_worker(jobs)`: torch threads of each of `jobs` worker processes (cores // jobs).
- `cpu_jobs(cap)`: one worker per core, at most `cap` (each holds its own torch).
- `torch_threads(n)`: a block run with `n` torch threads (small models train fastest on one).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

MAX_WORKERS = 16  # each worker process holds its own torch (a few hundred MB)


def usable_cores() -> int:
    """The cores this process may use (its CPU affinity where the system tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def threads_per_worker(jobs: int) -> int:
    """The CPU threads each of `jobs` worker processes gets: the cores split evenly."""
    return max(1, usable_cores() // max(jobs, 1))


def cpu_jobs(cap: int = MAX_WORKERS) -> int:
    """Worker processes for CPU runs: one per usable core, at most `cap`."""
    return max(1, min(usable_cores(), cap))


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with `count` torch threads (None: unchanged); the old count is restored."""
    import torch

    old = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(old)
