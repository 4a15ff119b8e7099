"""Where a study's batched training time goes: one row per stacked group of models.

    python bench/study_groups.py inductive-bias --device cuda
    python bench/study_groups.py inductive-bias --quick --device cpu --jobs 1 --no-record
    python bench/study_groups.py --queued 1000000 --connections 32 inductive-bias --device cuda

Runs `scratchlab study NAME` (flags after the name are the study's own) in this process, into a
fresh temporary output folder, and times every batched group (`BatchedFit`): its models,
training steps per epoch, epochs run, the host seconds spent launching its epochs and, on CUDA,
the seconds of its stream between the start and the end of each epoch (groups overlap on their
streams, so these add up to more than the wall time), whether its epochs were replayed as a CUDA
graph, and the host time split into its parts (`HOST_PARTS`, and the rest: pinning and copying
each epoch's orders, stream switches), and the study's seconds in building the groups (`build`,
which overlaps the groups built before) and in all of its batched training (`batched`). Prints
the groups by time and appends one line to bench/results.jsonl (bench `study_groups`) with the
totals and every group. `--queued N` sets
how many epochs a group may have queued on its stream (`batched.MAX_EPOCHS_QUEUED`; a large N:
no limit), `--connections N` the device's hardware work queues (`CUDA_DEVICE_MAX_CONNECTIONS`,
read when CUDA starts: 32 once scratchlab is imported, the driver's default 8 otherwise).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, ClassVar

import pandas as pd
import torch

from common import device_name, record, run_cli, study_in_process
from scratchlab.experiments import batched as batched_runs
from scratchlab.training.accel import batched
from scratchlab.util import resolve_device

# where a group's host time goes: drawing each epoch's orders, reading the flag of models still
# training, eager epochs and the capture, graph replays; "rest" is the remainder of each step
HOST_PARTS = ("orders", "active_flag", "eager_and_capture", "replay")


# the study's wall time in its batched groups: building them (data to the device, models,
# optimizers; `_groups`, while the groups built before train) and all of `run_batched`
STUDY_PARTS = {"_groups": 0.0, "run_batched": 0.0}


def timed(totals: dict[str, float], part: str, call: Callable) -> Callable:
    """`call`, its wall seconds added to `totals[part]` on every call."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            totals[part] += time.perf_counter() - start
    return wrapper


class TimedFit(batched.BatchedFit):
    """A `BatchedFit` that records the host time of each epoch, split into its parts, and its
    stream's time (CUDA)."""

    rows: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.events: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []
        self.host = 0.0
        self.parts: dict[str, float] = dict.fromkeys(HOST_PARTS, 0.0)
        self._still_active = timed(self.parts, "active_flag", self._still_active)
        self.program.train.permutations = timed(self.parts, "orders",
                                                self.program.train.permutations)
        self.program.run = timed(self.parts, "eager_and_capture", self.program.run)

    def _capture(self) -> None:
        super()._capture()
        if self.graph is not None:  # its replays timed
            self.graph = SimpleNamespace(replay=timed(self.parts, "replay", self.graph.replay),
                                         graph=self.graph)

    def step(self) -> bool:
        start = time.perf_counter()
        begin = torch.cuda.Event(enable_timing=True) if self.cuda else None
        if begin is not None:
            begin.record(self.stream)
        ran = super().step()
        if ran and begin is not None:
            end = torch.cuda.Event(enable_timing=True)
            end.record(self.stream)
            self.events.append((begin, end))
        self.host += time.perf_counter() - start
        return ran

    def results(self) -> list[Any]:
        if self.events:  # the epochs have run (results are read when the stream is idle)
            self.events[-1][1].synchronize()
        p, events = self.program, self.events
        parts = {f"host_{k}": round(v, 3) for k, v in self.parts.items()}
        parts["host_rest"] = round(self.host - sum(self.parts.values()), 3)
        TimedFit.rows.append({
            "model": type(self.trainer.models[0]).__name__, "models": p.models.count,
            "params": sum(t.numel() for t in self.trainer.models[0].parameters()),
            "steps_per_epoch": len(p.train_batches), "epochs": self.done,
            "graphed": self.graph is not None,
            "host_seconds": round(self.host, 2),
            "stream_seconds": round(sum(b.elapsed_time(e) for b, e in events) / 1e3, 2),
            **parts})
        return super().results()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("study", help="a study that trains through the batched trainer")
    p.add_argument("--no-record", action="store_true", help="do not append to bench/results.jsonl")
    p.add_argument("--queued", type=int, default=batched.MAX_EPOCHS_QUEUED,
                   help="epochs a group may have queued on its stream")
    p.add_argument("--connections", type=int, help="CUDA_DEVICE_MAX_CONNECTIONS (1-32)")
    args, study_flags = p.parse_known_args(argv)
    batched.MAX_EPOCHS_QUEUED = args.queued
    if args.connections:  # before CUDA starts in this process
        os.environ["CUDA_DEVICE_MAX_CONNECTIONS"] = str(args.connections)
    batched.BatchedFit = TimedFit  # what BatchedTrainer.prepare builds each group's fit from
    for part in STUDY_PARTS:  # the names experiments.batched calls
        setattr(batched_runs, part, timed(STUDY_PARTS, part, getattr(batched_runs, part)))
    wall, code = study_in_process(args.study, study_flags)
    if code:
        return code
    if not TimedFit.rows:
        print(f"study {args.study} trained no batched group (finished runs are read back)")
        return 1
    groups = pd.DataFrame(TimedFit.rows)
    cuda = groups.stream_seconds.sum() > 0
    groups = groups.sort_values("stream_seconds" if cuda else "host_seconds", ascending=False)
    print(groups.to_string(index=False))
    totals = {"groups": len(groups), "wall_seconds": round(wall, 1),
              "host_seconds": round(float(groups.host_seconds.sum()), 2),
              "stream_seconds": round(float(groups.stream_seconds.sum()), 2),
              "build_seconds": round(STUDY_PARTS["_groups"], 2),
              "batched_seconds": round(STUDY_PARTS["run_batched"], 2),
              "queued": args.queued,
              "connections": os.environ.get("CUDA_DEVICE_MAX_CONNECTIONS", "default")}
    print(", ".join(f"{k} {v}" for k, v in totals.items()))
    if not args.no_record:
        device = study_flags[study_flags.index("--device") + 1] if "--device" in study_flags \
            else "auto"
        record("study_groups", device_name(resolve_device(device)),
               {"study": args.study, "args": study_flags, **totals,
                "every_group": groups.to_dict("records")})
    return 0


if __name__ == "__main__":
    run_cli(main, "study_groups")
