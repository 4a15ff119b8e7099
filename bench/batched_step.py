"""One stacked group of the batched trainer: time per epoch eagerly and as a CUDA graph, and the
kernels each training step launches.

    python bench/batched_step.py --device cuda                     # q6-like: 5 SimpleCNNs
    python bench/batched_step.py --device cpu --epochs 2 --no-record

The group is like the inductive-bias study's q6 runs: `--models` SimpleCNNs (kernel 7, five
classes) on `--images` random 28x28 images in batches of `--batch`, SGD with momentum, evaluated
on 150 images every epoch. Each mode trains a warm-up fit, then `--epochs` timed epochs (device
synchronised). On CUDA one more eager fit of 2 epochs runs under the torch profiler: the kernels
it launches per training step and their device time. Appends one line to bench/results.jsonl
(bench `batched_step`).
"""

from __future__ import annotations

import argparse
import time

import torch

from common import device_name, record, run_cli, synchronize
from scratchlab.models import build_model
from scratchlab.training.accel.batched import BatchedTrainer
from scratchlab.training.loaders import TensorLoader
from scratchlab.util import resolve_device


def group(args: argparse.Namespace, device: torch.device, graphs: bool):
    """A fresh trainer with its train and test loaders (the same seeds every time)."""
    torch.manual_seed(0)
    models = [build_model({"model_type": "simplecnn", "out_classes": 5, "kernel_size": 7})
              for _ in range(args.models)]
    optimizers = [torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9) for m in models]
    x, y = torch.rand(args.images, 1, 28, 28), torch.randint(0, 5, (args.images,))
    train = [TensorLoader(x, y, batch_size=args.batch, shuffle=True, seed=i, device=device)
             for i in range(args.models)]
    test = [TensorLoader(x[:150], y[:150], batch_size=150, device=device)
            for _ in range(args.models)]
    trainer = BatchedTrainer(models, optimizers, device=device, cuda_graphs=graphs)
    return trainer, train, test


def ms_per_epoch(args: argparse.Namespace, device: torch.device, graphs: bool) -> float:
    """Milliseconds per epoch of a fresh fit after a warm-up fit of 3 epochs."""
    for epochs in (3, args.epochs):  # a warm-up fit, then the timed one
        trainer, train, test = group(args, device, graphs)
        synchronize(device)
        start = time.perf_counter()
        trainer.fit(train, test, epochs)
        synchronize(device)
    return 1e3 * (time.perf_counter() - start) / args.epochs


def kernels_per_step(args: argparse.Namespace, device: torch.device) -> dict[str, float]:
    """Kernels launched and their device microseconds per training step (eager fit, 2 epochs)."""
    from torch.profiler import ProfilerActivity, profile

    trainer, train, test = group(args, device, graphs=False)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        trainer.fit(train, test, 2)
        synchronize(device)
    kernels = [e for e in prof.events() if e.device_type.name == "CUDA"]
    steps = 2 * -(-args.images // args.batch)
    return {"kernels_per_step": len(kernels) / steps,
            "kernel_us_per_step": sum(e.device_time for e in kernels) / steps}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument("--models", type=int, default=5, help="models stacked (default 5)")
    p.add_argument("--images", type=int, default=500, help="training images (default 500)")
    p.add_argument("--batch", type=int, default=10, help="batch size (default 10)")
    p.add_argument("--epochs", type=int, default=20, help="timed epochs (default 20)")
    p.add_argument("--no-record", action="store_true", help="do not append to bench/results.jsonl")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    metrics = {"models": args.models, "images": args.images, "batch": args.batch,
               "steps_per_epoch": -(-args.images // args.batch),
               "eager_ms_per_epoch": ms_per_epoch(args, device, graphs=False)}
    if device.type == "cuda":
        metrics["graphed_ms_per_epoch"] = ms_per_epoch(args, device, graphs=True)
        metrics |= kernels_per_step(args, device)
    print(", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                    for k, v in metrics.items()))
    if not args.no_record:
        record("batched_step", device_name(device), metrics)
    return 0


if __name__ == "__main__":
    run_cli(main, "batched_step")
