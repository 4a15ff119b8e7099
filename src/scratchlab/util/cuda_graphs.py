"""Capturing work as a CUDA graph, with eager work where it cannot be captured."""

from __future__ import annotations

import contextlib
import gc
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the block (a capture). torch no longer collects
    before a capture, so a collection could start inside one and free an earlier trainer's graph
    and memory pool there, which would invalidate the capture: the likely cause of a failed capture
    seen on the second of two recipes benchmarked in one process."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def try_capture(run: Callable[[], Any], stream: torch.cuda.Stream, what: str,
                **graph_kw: Any) -> tuple[torch.cuda.CUDAGraph | None, Any]:
    """`run()` captured on `stream` as a CUDA graph with the collector paused: (graph, what run
    returned). When it cannot be captured: a warning naming `what`, and (None, None); nothing ran,
    and the stream current before is current again (a failed capture_end leaves it unrestored)."""
    previous = torch.cuda.current_stream(stream.device)
    graph = torch.cuda.CUDAGraph()
    try:
        with gc_paused(), torch.cuda.graph(graph, stream=stream, **graph_kw):
            result = run()
    except Exception as exc:  # an op that cannot be captured: the caller runs it eagerly
        warnings.warn(f"{what} could not be captured as a CUDA graph ({type(exc).__name__}: "
                      f"{str(exc).splitlines()[0]}); running it eagerly", stacklevel=3)
        torch.cuda.set_stream(previous)
        return None, None
    return graph, result
