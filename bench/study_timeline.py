"""What binds a study's batched groups side by side on one GPU: a kernel timeline of a window.

    python bench/study_timeline.py inductive-bias --device cuda --no-record
    python bench/study_timeline.py --after 3 9 15 --window 1 inductive-bias --device cuda

Runs `scratchlab study NAME` (flags after the name are the study's own) in this process, into a
fresh temporary output folder, and records every GPU kernel with torch's profiler (CUPTI) for
`--window` seconds, starting at each of the `--after` seconds into the study's batched training.
From the kernels of each window it prints how busy the GPU was (the time at least one kernel
ran), how many kernels ran at once on average while it was busy, how many streams had work, the
kernels' time by name, and on each stream the gaps between one kernel's end and the next one's
start (the launch latency of kernels that depend on each other). The profiler slows the kernels'
launches: compare the window's kernels per second with a study's kernels
(`bench/group_alone.py`) over its batched seconds (`bench/study_groups.py`). Appends one line to
bench/results.jsonl (bench `study_timeline`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from collections import Counter, defaultdict
from typing import Any

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from common import device_name, record, run_cli, study_in_process
from scratchlab.training.accel import batched
from scratchlab.util import resolve_device

WINDOWS: dict[str, Any] = {"after": [6.0], "seconds": 1.0, "start": None, "profiler": None,
                           "opened": 0.0, "traces": []}


class WindowedFit(batched.BatchedFit):
    """A `BatchedFit` whose epochs open and close the profiler's windows (on the host's thread
    that queues every group's epochs)."""

    def step(self) -> bool:
        now = time.perf_counter()
        w = WINDOWS
        if w["start"] is None:
            w["start"] = now
        elapsed, done = now - w["start"], len(w["traces"])
        if w["profiler"] is None and done < len(w["after"]) and elapsed >= w["after"][done]:
            w["profiler"] = profile(activities=[ProfilerActivity.CUDA])
            w["profiler"].__enter__()
            w["opened"] = elapsed
        elif w["profiler"] is not None and elapsed >= w["opened"] + w["seconds"]:
            close_window()
        return super().step()


def close_window() -> None:
    """Stop the profiler of the open window and keep its figures with its start (read at once:
    the next window's profiler would clear its events)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    WINDOWS["profiler"].__exit__(None, None, None)
    kernels = kernels_of(WINDOWS["profiler"])
    WINDOWS["traces"].append({"after": round(WINDOWS["opened"], 2), **analyse(kernels)})
    WINDOWS["profiler"] = None


def kernels_of(prof: Any) -> list[dict[str, Any]]:
    """The window's kernels: name, stream, start and end in microseconds."""
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        prof.export_chrome_trace(f.name)
        with open(f.name) as trace:
            events = json.load(trace)["traceEvents"]
    return [{"name": e["name"], "stream": (e.get("args", {}).get("device"),
                                           e.get("args", {}).get("stream", e.get("tid"))),
             "start": float(e["ts"]), "end": float(e["ts"]) + float(e.get("dur", 0))}
            for e in events if e.get("cat") == "kernel"]


def busy_and_overlap(starts: np.ndarray, ends: np.ndarray) -> tuple[float, float]:
    """Microseconds with at least one kernel running, and the kernels' mean count then."""
    times = np.concatenate([starts, ends])
    steps = np.concatenate([np.ones_like(starts), -np.ones_like(ends)])
    order = np.lexsort((steps, times))  # at one instant an end before a start
    times, running = times[order], np.cumsum(steps[order])
    spans = np.diff(times)
    on = running[:-1] > 0
    busy = float(spans[on].sum())
    return busy, float((spans * running[:-1])[on].sum() / busy) if busy else 0.0


def analyse(kernels: list[dict[str, Any]]) -> dict[str, Any]:
    """The window's figures (module docstring)."""
    if len(kernels) < 2:
        return {"kernels": len(kernels)}
    starts = np.array([k["start"] for k in kernels])
    ends = np.array([k["end"] for k in kernels])
    span = max(float(ends.max() - starts.min()), 1e-3)
    busy, overlap = busy_and_overlap(starts, ends)
    per_stream: dict[Any, list[tuple[float, float]]] = defaultdict(list)
    for k in kernels:  # one pass: a window holds some 300,000 kernels on about 100 streams
        per_stream[k["stream"]].append((k["start"], k["end"]))
    gaps = [b[0] - a[1] for spans in per_stream.values()
            for a, b in itertools.pairwise(sorted(spans))]
    gaps_us = np.array(gaps).clip(0) if gaps else np.zeros(1)  # kernels of one stream may overlap
    by_name: Counter = Counter()
    for k in kernels:
        by_name[k["name"][:60]] += k["end"] - k["start"]
    durations = ends - starts
    return {
        "kernels": len(kernels), "span_ms": round(span / 1e3, 1),
        "kernels_per_second": round(len(kernels) / span * 1e6),
        "busy_fraction": round(busy / span, 3), "mean_running_when_busy": round(overlap, 2),
        "kernel_ms": round(float(durations.sum()) / 1e3, 1),
        "kernel_us_median": round(float(np.median(durations)), 2),
        "streams": len(per_stream),
        "gap_us_percentiles": {str(q): round(float(np.percentile(gaps_us, q)), 2)
                               for q in (10, 50, 90, 99)},
        "gap_ms_sum": round(float(gaps_us.sum()) / 1e3, 1),
        "top_kernels_ms": {n: round(t / 1e3, 1) for n, t in by_name.most_common(12)},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("study", help="a study that trains through the batched trainer")
    p.add_argument("--after", type=float, nargs="+", default=[6.0],
                   help="seconds into the batched training at which each window opens")
    p.add_argument("--window", type=float, default=1.0,
                   help="seconds profiled per window (0: none)")
    p.add_argument("--no-record", action="store_true", help="do not append to bench/results.jsonl")
    args, study_flags = p.parse_known_args(argv)
    WINDOWS.update(after=sorted(args.after) if args.window > 0 else [], seconds=args.window)
    batched.BatchedFit = WindowedFit  # what BatchedTrainer.prepare builds each group's fit from
    wall, code = study_in_process(args.study, study_flags)
    if WINDOWS["profiler"] is not None:  # the training ended (or failed) inside a window
        close_window()
    if code:
        return code
    metrics: dict[str, Any] = {"study": args.study, "args": study_flags,
                               "study_wall_seconds": round(wall, 1), "window": args.window,
                               "windows": WINDOWS["traces"]}
    if not metrics["windows"] and args.window > 0:
        print(f"no window profiled (the batched training lasted less than {args.after[0]} s?)")
    print(json.dumps(metrics, indent=2))
    if not args.no_record:
        device = study_flags[study_flags.index("--device") + 1] if "--device" in study_flags \
            else "auto"
        record("study_timeline", device_name(resolve_device(device)), metrics)
    return 0


if __name__ == "__main__":
    run_cli(main, "study_timeline")
