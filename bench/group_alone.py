"""Each batched group of the inductive-bias study alone on the device: epoch time and kernels.

    python bench/group_alone.py --device cuda [--epochs 20] [--seeds 5] [--quick]
    python bench/group_alone.py --device cuda --forward vmap grouped    # compared

Builds the study's groups as `scratchlab study inductive-bias` does (full mode unless `--quick`),
then, one group at a time and alone on the device: runs three epochs (two eager, then the capture
of the CUDA graph), times `--epochs` more as the study replays them, and profiles one eager epoch
with torch.profiler (kernels launched, their summed device time). The sum over groups of the time
per epoch x planned epochs is what the groups would take one after another (early stopping ends
some sooner); set against the study's batched seconds (bench `study_groups`) it says how much
running the groups side by side on their streams gains. Kernel time against epoch time says
whether an epoch is bound by its kernels' work or by the gaps between them. Prints one row per
group and appends one line to bench/results.jsonl (bench `group_alone`).

`--forward`: how a group's models compute their forward pass, one or more of `vmap` (vmap over
the models, the baseline), `grouped` (the trainer's: the model's `forward_stacked`, the models
side by side in the channels, one convolution per layer through `models.tiny_conv`'s kernels on
a GPU; vmap for a model without one) and `cudnn` (the same with cuDNN's grouped convolutions
and torch's pool, linear layer, cross-entropy and SGD update instead of the Triton kernels of
`models.tiny_conv`, `models.tiny_head`, `models.stacked_loss` and
`training.accel.batched_optim`).
`every-conv`: `grouped` with `models.tiny_conv`'s kernels for every layer they fit, not only
where they were measured faster than cuDNN (`SCRATCHLAB_TINY_CONV=all`).
`no-conv`, `no-head`, `no-loss`, `no-sgd`: `grouped` with one of those kernel groups off, to tell
what each one gains. With several, each group runs each way in the same process, with the
totals' speed over the first; each group's line keeps its six costliest kernels of one epoch.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any

import pandas as pd
import torch
from torch.profiler import ProfilerActivity, profile

from common import device_name, record, synchronize
from scratchlab.experiments import batched as batched_runs
from scratchlab.models import stacked, stacked_loss, tiny_conv, tiny_head
from scratchlab.studies.inductive_bias.plan import experiment_configs
from scratchlab.training.accel import batched_optim
from scratchlab.util import resolve_device

# the Triton kernels, each turned off by its variable set to 0
SWITCHES = {"conv": tiny_conv.ENV_OFF, "head": tiny_head.ENV_OFF, "loss": stacked_loss.ENV_OFF,
            "sgd": batched_optim.ENV_OFF}
# the ways a group's models may compute: `no-NAME` is `grouped` with kernel group NAME off
FORWARDS = ["vmap", "cudnn", "grouped", "every-conv", *(f"no-{name}" for name in SWITCHES)]


def kernel_profile(fit: Any, device: torch.device) -> tuple[int, float, dict[str, float]]:
    """Kernels of one eager epoch of a group, their summed device seconds and the ms per name."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    synchronize(device)
    with profile(activities=activities) as prof:
        fit.program.run()
        synchronize(device)
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    by_name: dict[str, float] = {}
    for e in kernels:
        by_name[e.name[:60]] = by_name.get(e.name[:60], 0.0) + e.device_time / 1e3
    return len(kernels), sum(e.device_time for e in kernels) / 1e6, by_name


def time_group(group: list[Any], epochs: int, device: torch.device) -> dict[str, Any]:
    fit = batched_runs.fit_of(group)
    for _ in range(3):  # two eager epochs, then the capture
        fit.step()
    synchronize(device)
    start, ran = time.perf_counter(), 0
    while ran < epochs and fit.step():
        ran += 1
    synchronize(device)
    per_epoch = (time.perf_counter() - start) / max(ran, 1)
    kernels, kernel_seconds, by_name = kernel_profile(fit, device)
    p = fit.program
    return {"model": type(group[0].model).__name__, "models": len(group),
            "steps_per_epoch": len(p.train_batches), "planned_epochs": fit.epochs,
            "graphed": fit.graph is not None, "epoch_ms": round(1e3 * per_epoch, 3),
            "kernels_per_epoch": kernels, "kernel_ms_per_epoch": round(1e3 * kernel_seconds, 3),
            "alone_seconds": round(per_epoch * fit.epochs, 2),
            "kernel_seconds": round(kernel_seconds * fit.epochs, 2), "by_name": by_name}


def time_groups(groups: list[Any], epochs: int, device: torch.device, forward: str
                ) -> list[dict[str, Any]]:
    """`time_group` of every group, the models' forward `grouped` (stacked), `cudnn` (stacked,
    cuDNN's convolutions instead of `models.tiny_conv`) or `vmap`."""
    chosen = stacked.stacked_forward
    if forward == "vmap":
        stacked.stacked_forward = lambda model: None
    settings = ({name: "0" for name in SWITCHES.values()} if forward == "cudnn"  # and torch's
                else {SWITCHES[forward[3:]]: "0"} if forward.startswith("no-")  # loss, head, SGD
                else {tiny_conv.ENV_OFF: "all"} if forward == "every-conv" else {})
    os.environ.update(settings)
    try:
        return [{"forward": forward, **time_group(group, epochs, device)} for group in groups]
    finally:
        stacked.stacked_forward = chosen
        for name in settings:
            os.environ.pop(name, None)


def top_kernels(by_name: dict[str, float], count: int = 6) -> dict[str, float]:
    """The `count` kernels of most device time in one eager epoch, ms each (3 decimals)."""
    top = sorted(by_name.items(), key=lambda kv: -kv[1])[:count]
    return {name: round(ms, 3) for name, ms in top}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--epochs", type=int, default=20, help="epochs timed per group (default 20)")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="the study's quick mode")
    p.add_argument("--forward", nargs="+", choices=FORWARDS,
                   default=["grouped"], help="the models' forward pass(es) (default: grouped)")
    p.add_argument("--no-record", action="store_true", help="do not append to bench/results.jsonl")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as out:
        configs = experiment_configs(args.quick, list(range(args.seeds)), out, str(device))
        start = time.perf_counter()
        groups, singles = batched_runs.plan(configs, "auto")
        plan_seconds = time.perf_counter() - start
        forwards = list(dict.fromkeys(args.forward))
        rows = [row for forward in forwards
                for row in time_groups(groups, args.epochs, device, forward)]
    table = pd.DataFrame(rows).sort_values("alone_seconds", ascending=False)
    print(table.drop(columns="by_name").to_string(index=False))
    totals: dict[str, dict[str, Any]] = {}
    for forward in forwards:
        mine = table[table["forward"] == forward]
        for row in mine.head(3).itertuples():
            top = sorted(row.by_name.items(), key=lambda kv: -kv[1])[:12]
            print(f"[{forward}] kernels of one eager epoch of {row.model} x {row.models} "
                  f"({row.steps_per_epoch} steps), ms: "
                  + "; ".join(f"{name} {ms:.3f}" for name, ms in top))
        totals[forward] = {
            "alone_seconds": round(float(mine["alone_seconds"].sum()), 2),
            "kernel_seconds": round(float(mine["kernel_seconds"].sum()), 2),
            "kernels": int((mine["kernels_per_epoch"] * mine["planned_epochs"]).sum())}
        print(f"[{forward}] {len(groups)} groups ({len(singles)} runs alone), planned in "
              f"{plan_seconds:.1f} s; one after another {totals[forward]['alone_seconds']} s, of "
              f"which kernels {totals[forward]['kernel_seconds']} s "
              f"({totals[forward]['kernels']:,} kernels)")
    first = forwards[0]
    speed = {f: round(totals[first]["alone_seconds"] / totals[f]["alone_seconds"], 3)
             for f in forwards[1:]}
    for forward, ratio in speed.items():
        print(f"{forward}: {ratio}x the speed of {first} (the groups one after another)")
    if not args.no_record:
        record("group_alone", device_name(device),
               {"groups": len(groups), "plan_seconds": round(plan_seconds, 2),
                **totals[forwards[-1]], "by_forward": totals, f"speed_over_{first}": speed,
                "every_group": [{**{k: v for k, v in r.items() if k != "by_name"},
                                 "top_kernels_ms": top_kernels(r["by_name"])} for r in rows]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
