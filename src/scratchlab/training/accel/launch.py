"""Runs that share one GPU from threads of one process (the `threads` executor).

Inside `sharing_device()` a run launches under `CAPTURE_LOCK` with at most `STEPS_AHEAD` steps
queued, so it never blocks on a full launch queue while holding the lock.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import functools
import itertools
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import torch

from scratchlab.training.accel.cuda_graph import CAPTURE_LOCK
from scratchlab.training.results import BatchResult

STEPS_AHEAD = 16
_SHARING = contextvars.ContextVar("scratchlab_sharing_device", default=False)
T = TypeVar("T", bound=type)


@contextlib.contextmanager
def sharing_device() -> Iterator[None]:
    """Mark the runs started inside the block (in this thread) as sharing their GPU."""
    token = _SHARING.set(True)
    try:
        yield
    finally:
        _SHARING.reset(token)


def is_sharing_device() -> bool:
    return _SHARING.get()


class SharedDeviceMixin:
    """Paces a trainer's launches for a GPU shared with other threads (module docstring)."""

    last_batch_size: int

    def batches(self, loader: Iterable, max_batches: int | None) -> Iterator[Any]:
        in_flight: collections.deque = collections.deque()
        source = iter(itertools.islice(loader, max_batches))
        while True:
            if len(in_flight) >= STEPS_AHEAD:
                in_flight.popleft().synchronize()  # wait here, not inside the lock
            with CAPTURE_LOCK:
                batch = next(source, None)
            if batch is None:
                return
            self.last_batch_size = len(batch[-1])
            yield batch
            in_flight.append(torch.cuda.Event())
            in_flight[-1].record()

    def train_batch(self, batch: Any) -> BatchResult:
        with CAPTURE_LOCK:
            return super().train_batch(batch)  # type: ignore[misc]

    def test_batch(self, batch: Any) -> BatchResult:
        with CAPTURE_LOCK:
            return super().test_batch(batch)  # type: ignore[misc]


@functools.cache
def shared(trainer_class: T) -> T:
    """`trainer_class` with `SharedDeviceMixin`: the class a run on a shared GPU trains with."""
    return type(f"Shared{trainer_class.__name__}", (SharedDeviceMixin, trainer_class), {})
