"""Where the time of one fast-CIFAR run goes: one run of a recipe under torch.profiler.

    python bench/profile_recipe.py --recipe cifar10-fast --device cuda
    python bench/profile_recipe.py --recipe cifar10-fast --device cuda --set epochs=4
    python bench/profile_recipe.py --quick                                     # CPU smoke run

The step runs eagerly (`--set cuda_graph=true` profiles the recipe's CUDA graph, whose kernels then
count as launched outside aten operators). After a warm-up run (cuDNN autotuning), one full
training run (whitening, every epoch, every evaluation) is traced. Printed: its wall time, the
device time of all kernels (their sum over the wall time is the share of the run in which the GPU
computes; the rest is launch overhead and host work), and the device time per group of operators
(convolutions, BatchNorm, activations, pooling, matrix products such as Muon's Newton-Schulz,
copies and casts, the optimizer step, the rest, and the kernels launched outside aten operators,
such as Triton's), each with its share of the kernel time and its number of kernel launches
(`--kernels N`: the N costliest kernels).
Appends one line to bench/results.jsonl (bench `profile_recipe`).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from typing import Any

from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

from cifar_speed import default_data, fast_run_data, parse_sets, train_once
from common import device_name, record, run_cli, synchronize
from scratchlab.experiments import build_trainer
from scratchlab.experiments.recipes import recipe_config, recipe_names
from scratchlab.experiments.run_data import fast_tensors
from scratchlab.util import resolve_device

# Operator groups, first match wins: (group, substrings of the aten operator's name).
GROUPS = (
    ("convolution", ("conv",)),
    ("batchnorm", ("batch_norm",)),
    ("activation", ("gelu", "relu", "silu")),
    ("pooling", ("pool",)),
    ("matmul (head, Newton-Schulz)", ("mm", "matmul", "linear", "baddbmm", "addmm")),
    ("optimizer step", ("_foreach", "_fused", "sgd", "adam", "lerp")),
    ("loss", ("cross_entropy", "log_softmax", "nll_loss")),
    ("copies and casts", ("copy_", "to_copy", "_to_copy", "clone", "cat", "stack", "flip")),
)


OUTSIDE = "kernels outside aten ops (Triton)"


def group_of(name: str) -> str:
    low = name.lower()
    for group, keys in GROUPS:
        if any(key in low for key in keys):
            return group
    return "other"


def device_time(event: Any, cuda: bool) -> float:
    """Self microseconds of a profiler event on the GPU (torch renamed the attribute in 2.4), or
    on the CPU when the run is on the CPU."""
    attrs = ("self_device_time_total", "self_cuda_time_total") if cuda else ("self_cpu_time_total",)
    for attr in attrs:
        if hasattr(event, attr):
            return float(getattr(event, attr))
    return 0.0


def _is_kernel(event: Any) -> bool:
    """A GPU kernel, copy or fill (not an annotation spanning kernels)."""
    return event.device_type == DeviceType.CUDA and not getattr(event, "is_user_annotation", False)


def breakdown(events: Any, cuda: bool) -> tuple[dict[str, dict[str, Any]], float]:
    """Per group: device microseconds and kernel launches of the aten operators (on a GPU, the
    kernels launched outside them, such as Triton's, as one more group); total. `events`: the
    profile's `key_averages()`."""
    groups: dict[str, dict[str, Any]] = defaultdict(lambda: {"us": 0.0, "calls": 0})
    for event in events:
        if not event.key.startswith("aten::"):
            continue
        us = device_time(event, cuda)
        if us <= 0:
            continue
        entry = groups[group_of(event.key)]
        entry["us"] += us
        entry["calls"] += event.count
    total = sum(g["us"] for g in groups.values())
    if cuda:
        kernels = [e for e in events if _is_kernel(e)]
        outside = sum(device_time(e, True) for e in kernels) - total
        if outside > 0:
            groups[OUTSIDE] = {"us": outside, "calls": None}  # launches not told apart
            total += outside
    return dict(groups), total


def top_kernels(events: Any, n: int) -> list[tuple[str, float, int]]:
    """The `n` GPU kernels of `events` with the most device time: (name, microseconds,
    launches)."""
    kernels = [(e.key, device_time(e, True), e.count) for e in events if _is_kernel(e)]
    return sorted((k for k in kernels if k[1] > 0), key=lambda k: -k[1])[:n]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", choices=recipe_names(), default="cifar10-fast")
    p.add_argument("--device", default=None, help="auto, cpu, cuda (default: the recipe's)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="change the recipe (repeatable)")
    p.add_argument("--quick", action="store_true", help="the recipe's tiny CPU smoke form")
    p.add_argument("--kernels", type=int, default=0, help="also list the N costliest kernels")
    p.add_argument("--no-record", action="store_true", help="do not append to bench/results.jsonl")
    args = p.parse_args(argv)
    # eager unless --set cuda_graph=true: a replayed graph's kernels belong to no aten operator
    overrides: dict[str, Any] = {"compile": False, "cuda_graph": False, **parse_sets(args.set)}
    if default_data():
        overrides["data_root"] = default_data()
    if args.device:
        overrides["device"] = args.device
    config = recipe_config(args.recipe, args.quick, **overrides)
    device = resolve_device(config.device)
    b = config.budget
    data = fast_run_data(config, fast_tensors(config, device))
    model = build_trainer(config, data, device, []).model
    train_once(model, config, data, device, seed=10_000, epochs=min(b.epochs, 2))
    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    synchronize(device)
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        fit, _, _ = train_once(model, config, data, device, seed=config.seed, epochs=b.epochs)
    synchronize(device)
    wall = time.perf_counter() - start
    events = prof.key_averages()
    groups, total_us = breakdown(events, device.type == "cuda")
    total_us = max(total_us, 1.0)
    print(f"{args.recipe} on {device_name(device)}: one run of {b.epochs} epochs, test acc "
          f"{fit.test_acc[-1]:.2f}%, {wall:.3f} s wall under the profiler; kernels "
          f"{total_us / 1e6:.3f} s ({total_us / 1e6 / wall:.0%} of the wall time)")
    for group, entry in sorted(groups.items(), key=lambda kv: -kv[1]["us"]):
        calls = "" if entry["calls"] is None else f"{int(entry['calls']):7d} calls"
        print(f"  {group:<30} {entry['us'] / 1e3:9.1f} ms  {entry['us'] / total_us:6.1%}  {calls}")
    for name, us, count in top_kernels(events, args.kernels) if device.type == "cuda" else ():
        print(f"  {us / 1e3:9.1f} ms {count:6d}x  {name[:110]}")
    if not args.no_record:
        record("profile_recipe", device_name(device), {
            "recipe": args.recipe, "quick": args.quick,
            "overrides": {k: v for k, v in overrides.items() if k != "data_root"},
            "wall_seconds": wall, "kernel_seconds": total_us / 1e6,
            "groups_ms": {g: round(e["us"] / 1e3, 2) for g, e in groups.items()},
            "test_acc": fit.test_acc[-1]})
    return 0


if __name__ == "__main__":
    run_cli(main, "profile_recipe")
