"""One convolution of N small models at once, each way the batched trainer can compute it.

    python bench/stacked_conv.py --device cuda [--repeats 200] [--models 5 15 45 135]
    python bench/stacked_conv.py --device cpu --repeats 5          # a smoke run

For the inductive-bias study's layers (15 models, or each count of `--models`, of 3 or 6 filters
of 7x7, reflect padding, a training batch of 10 and an evaluation chunk of 300 images, 28x28 and
14x14 maps) it times the forward and backward pass of one layer (gradients of weights, biases and
inputs; the forward pass alone for the evaluation chunks), the convolution followed by its ReLU
and, where the network has one there, its 2x2 pool:
  vmap     `torch.func.vmap` over the models of `F.conv2d` (the baseline)
  grouped  the models side by side in the channels, reflect padding then one grouped
           convolution (cuDNN), channels-first
  nhwc     the same on a channels-last input (which vmap cannot be asked for)
  tiny     `models.tiny_conv`'s kernels, for every layer (`SCRATCHLAB_TINY_CONV=all`; the
           trainer takes them only where `tiny_conv.pays_off`); Triton: padding, convolution,
           ReLU and pool in one kernel, their gradients in three or four; on a CPU it is `grouped`
(cuDNN's autotuning, `torch.backends.cudnn.benchmark`, changed nothing for grouped on an H100.)
(Patches unfolded and one product batched over the models, `F.unfold`, ran 1.04x as fast as vmap
for the evaluation chunks and 0.38-0.96x for the training batches on an H100, commit fc92a37,
bench/results.jsonl of 2026-12-06 22:26 UTC; the trainer does not offer it.)
On a GPU each is captured once as a CUDA graph and replayed, as the study replays its epochs; on a
CPU it runs eagerly. Prints microseconds per pass and each method's speed over vmap; with several
`--models`, the time per model says whether more models per kernel (groups of the study merged)
would pay: flat while the kernels are too small to fill the GPU, falling with N. Appends one line
to bench/results.jsonl (bench `stacked_conv`).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import vmap

from common import device_name, interleaved, median, record
from scratchlab.models import tiny_conv
from scratchlab.models.stacked import grouped_conv2d, models_into_channels
from scratchlab.util import resolve_device

# (name, batch, in channels, filters, kernel, map size, the 2x2 pool after the ReLU or None): the
# convolutions of the study's SimpleCNN, WiderCNN and DeeperCNN, in a training step and an
# evaluation chunk
NETWORK_LAYERS = [
    ("SimpleCNN conv1", 1, 3, 7, 28, "max"), ("SimpleCNN conv2", 3, 3, 7, 14, None),
    ("WiderCNN conv1", 1, 6, 7, 28, "max"), ("WiderCNN conv2", 6, 6, 7, 14, None),
    ("DeeperCNN conv1", 1, 3, 7, 28, None), ("DeeperCNN conv2", 3, 3, 7, 28, "max"),
]
LAYERS = [(f"{name}, {part}", batch, *rest) for part, batch in (("train", 10), ("eval", 300))
          for name, *rest in NETWORK_LAYERS]
METHODS = ["vmap", "grouped", "nhwc", "tiny"]


def layer_pass(method: str, layer: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor,
               x: torch.Tensor, train: bool = True, pool: str | None = None
               ) -> Callable[[], Any]:
    """One forward and backward pass of the stacked layer, its ReLU and its 2x2 `pool` (x: (N,
    B, C, H, W)); the forward pass alone, without gradients, where not `train`."""
    if method == "vmap":
        def one(w: torch.Tensor, b: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
            return pooled(F.relu(layer._conv_forward(xi, w, b)), pool)
        forward = vmap(one)
        inputs = x
    else:
        # each layout set here, whatever `models.stacked.CHANNELS_LAST` gives this device
        layout = torch.channels_last if method == "nhwc" else torch.contiguous_format
        inputs = models_into_channels(x).detach().contiguous(memory_format=layout)
        inputs.requires_grad_(True)

        def forward(w: torch.Tensor, b: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
            if method == "tiny":
                return grouped_conv2d(layer, w, b, xi, relu=True, pool=pool)
            padded = F.pad(xi, layer._reversed_padding_repeated_twice, mode="reflect")
            out = F.conv2d(padded, w.flatten(0, 1), b.flatten(), groups=w.shape[0])
            return pooled(F.relu(out), pool)

    def run() -> tuple[torch.Tensor, ...]:
        out = forward(weight, bias, inputs)
        return torch.autograd.grad(out.square().sum(), [weight, bias, inputs])

    def run_forward() -> torch.Tensor:
        with torch.no_grad():
            return forward(weight, bias, inputs)
    return run if train else run_forward


def pooled(x: torch.Tensor, pool: str | None) -> torch.Tensor:
    """`x` after a 2x2, stride-2 "max" or "avg" `pool` (None: `x`)."""
    if pool is None:
        return x
    return F.max_pool2d(x, 2) if pool == "max" else F.avg_pool2d(x, 2)


def graphed(fn: Callable[[], Any], device: torch.device) -> Callable[[], Any]:
    """`fn` captured as a CUDA graph (on a GPU), else `fn` itself."""
    if device.type != "cuda":
        return fn
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


def time_layer(spec: tuple[Any, ...], models: int, device: torch.device, repeats: int
               ) -> dict[str, Any]:
    name, batch, cin, cout, k, size, pool = spec
    torch.manual_seed(0)
    layer = nn.Conv2d(cin, cout, k, padding=(k - 1) // 2, padding_mode="reflect").to(device)
    weight = torch.randn(models, cout, cin, k, k, device=device, requires_grad=True)
    bias = torch.randn(models, cout, device=device, requires_grad=True)
    x = torch.randn(models, batch, cin, size, size, device=device, requires_grad=True)
    passes = {}
    for method in METHODS:
        passes[method] = graphed(layer_pass(method, layer, weight, bias, x,
                                            name.endswith("train"), pool), device)
    times = interleaved({m: (lambda fn=fn: [fn() for _ in range(20)])
                         for m, fn in passes.items()}, repeats, device)
    micros = {m: round(1e6 * median(t) / 20, 2) for m, t in times.items()}
    return {"layer": name, "models": models, **{f"{m}_us": v for m, v in micros.items()},
            **{f"{m}_speedup": round(micros["vmap"] / micros[m], 2) for m in METHODS[1:]}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--repeats", type=int, default=200, help="timed rounds of 20 passes each")
    p.add_argument("--models", type=int, nargs="+", default=[15],
                   help="models per stacked layer (several: one row each; default 15)")
    p.add_argument("--no-record", action="store_true", help="do not append to bench/results.jsonl")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    os.environ[tiny_conv.ENV_OFF] = "all"  # `tiny`: the kernels for each layer, paying or not
    rows = [time_layer(spec, n, device, args.repeats) for spec in LAYERS for n in args.models]
    for row in rows:
        per_model = row["tiny_us"] / row["models"]
        print(f"{row['layer']:<24} x{row['models']:<4} tiny {per_model:6.1f} us per model  "
              + "  ".join(
            f"{m} {row[f'{m}_us']:8.1f} us" + ("" if m == "vmap" else f" ({row[f'{m}_speedup']}x)")
            for m in METHODS))
    if not args.no_record:
        record("stacked_conv", device_name(device), {"repeats": args.repeats, "layers": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
