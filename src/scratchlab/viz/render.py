"""Figures drawn to PNG, several at once in worker processes where the machine has cores to
spare: matplotlib holds the GIL while it draws, so threads draw one figure after another.

    pngs = draw_pngs([fig_a, fig_b, fig_c])   # bytes of each, in order
    start_workers()                           # warm the workers up while something else runs

A worker is `python -m scratchlab.viz.render`: a fresh interpreter with matplotlib alone (never
a copy of a process that holds CUDA, and the caller's script is not run again, so it needs no
`if __name__ == "__main__"` guard). It reads pickled figures on stdin and writes their PNGs on
stdout. A figure that does not pickle (a lambda formatter, say), or that a worker fails on, is
drawn here. Each PNG is byte for byte the one `figure_to_png` makes here.
"""

from __future__ import annotations

import atexit
import io
import os
import pickle
import queue
import struct
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO

from matplotlib.figure import Figure

from scratchlab.util.threads import usable_cores

MIN_FIGURES = 3  # fewer are drawn here: a worker's round trip costs about what one figure does
MIN_CORES = 4  # on fewer cores the workers would take their time from the process that waits
MAX_DRAW_WORKERS = 8
HEADER = struct.Struct(">Q")  # each message: its length, then its pickle


def figure_to_png(fig: Figure, dpi: int = 100) -> bytes:
    """PNG bytes of a matplotlib figure."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def send_pickle(stream: IO[bytes], data: bytes) -> None:
    """One message: its length, then the pickle `data`."""
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


def receive(stream: IO[bytes]) -> bytes:
    """One message's pickle."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        raise EOFError("the drawing process ended")
    return stream.read(HEADER.unpack(header)[0])


class DrawError(Exception):
    """A worker could not draw a figure (it goes on with the next)."""


class Worker:
    """One drawing process; `draw` sends it a pickled (figure, dpi) and waits for the PNG."""

    def __init__(self) -> None:
        # the import path of this process (a notebook may have added to it), Agg drawing
        env = {**os.environ, "MPLBACKEND": "Agg",
               "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scratchlab.viz.render"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, env=env)

    def draw(self, job: bytes) -> bytes:
        assert self.process.stdin is not None and self.process.stdout is not None
        send_pickle(self.process.stdin, job)
        png = pickle.loads(receive(self.process.stdout))
        if not isinstance(png, bytes):
            raise DrawError(png)
        return png

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()  # the worker leaves at the end of its input
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Workers:
    """Drawing processes, each lent to one thread at a time. Once one has died (`broken`), the
    rest of the figures are drawn in the calling process and `draw_pngs` stops them all."""

    def __init__(self, count: int) -> None:
        self.count, self.broken = count, False
        self.idle: queue.Queue[Worker] = queue.Queue()
        for _ in range(count):
            self.idle.put(Worker())
        self.threads = ThreadPoolExecutor(count, thread_name_prefix="draw")

    def draw(self, job: bytes) -> bytes:
        worker = self.idle.get()
        try:
            if self.broken:
                raise DrawError("a drawing process died")
            return worker.draw(job)
        except (OSError, EOFError, pickle.UnpicklingError):
            self.broken = True
            raise
        finally:
            self.idle.put(worker)

    def stop(self) -> None:
        self.threads.shutdown(wait=True, cancel_futures=True)
        while not self.idle.empty():
            self.idle.get().stop()


_workers: Workers | None = None


def default_workers(figures: int | None = None) -> int:
    """Worker processes for `figures` figures (None: as many as may come): one per core but
    one, at most MAX_DRAW_WORKERS; 0 (draw here) on fewer than MIN_CORES cores or for fewer
    than MIN_FIGURES figures."""
    cores = usable_cores()
    if cores < MIN_CORES or (figures is not None and figures < MIN_FIGURES):
        return 0
    return min(cores - 1, MAX_DRAW_WORKERS, figures or MAX_DRAW_WORKERS)


def start_workers(workers: int | None = None) -> int:
    """Start `workers` drawing processes (None: `default_workers()`) without waiting for them;
    later calls reuse them. Returns how many there are (0: figures are drawn here)."""
    global _workers
    workers = default_workers() if workers is None else workers
    if workers >= 2 and (_workers is None or _workers.count < workers):
        stop_workers()
        _workers = Workers(workers)
    return _workers.count if _workers is not None else 0


def stop_workers() -> None:
    """Stop the drawing processes (they stop at exit anyway)."""
    global _workers
    if _workers is not None:
        _workers.stop()
    _workers = None


atexit.register(stop_workers)


def draw_pngs(figures: Sequence[Figure], dpi: int = 100, workers: int | None = None) -> list[bytes]:
    """The PNG bytes of each figure, in order; `workers` processes draw them (None:
    `default_workers(len(figures))`; 0 or 1: all drawn here, one after another)."""
    workers = default_workers(len(figures)) if workers is None else workers
    if workers < 2 or len(figures) < 2:
        return [figure_to_png(fig, dpi) for fig in figures]
    start_workers(workers)
    jobs = [_submit(fig, dpi) for fig in figures]
    pngs = [_collect(job, fig, dpi) for job, fig in zip(jobs, figures, strict=True)]
    if _workers is not None and _workers.broken:
        stop_workers()  # fresh ones start with the next figures
    return pngs


def _submit(fig: Figure, dpi: int) -> Future[bytes] | None:
    """`fig` sent to a worker (None: it does not pickle)."""
    try:
        job = pickle.dumps((fig, dpi))
    except (pickle.PicklingError, TypeError, AttributeError):  # a lambda, an open file, ...
        return None
    return _workers.threads.submit(_workers.draw, job) if _workers is not None else None


def _collect(job: Future[bytes] | None, fig: Figure, dpi: int) -> bytes:
    """A worker's PNG of `fig`, else `fig` drawn here (it was not sent, or the worker failed
    on it); an error of the figure's own shows here."""
    if job is not None:
        try:
            return job.result()
        except Exception:  # drawn again here, where an error of its own is raised
            pass
    return figure_to_png(fig, dpi)


def serve() -> None:
    """A worker's loop: (figure, dpi) pickles in on stdin, PNG bytes (or an error's text) out
    on stdout, until stdin ends. Stray prints go to stderr, never into the PNG stream."""
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    fig = Figure(figsize=(1, 1))  # the first draw of a process costs most (fonts): done now
    fig.subplots().set_title(r"warm-up $\pm$")
    figure_to_png(fig, dpi=10)
    while True:
        try:
            job = receive(sys.stdin.buffer)
        except EOFError:
            return
        try:
            fig, dpi = pickle.loads(job)
            answer: bytes | str = figure_to_png(fig, dpi)
        except Exception as exc:  # the caller draws it again, and sees the error there
            answer = f"{type(exc).__name__}: {exc}"
        send_pickle(answers, pickle.dumps(answer))


if __name__ == "__main__":
    serve()
