"""Why batching small CNNs gains little on a CPU: the convolutions of N models, five ways.

For the inductive-bias study's 7x7 convolutions (SimpleCNN: 1->3 channels at 28x28, then 3->3 at
14x14; WiderCNN: 1->16, 16->16), with reflect padding, forward and backward (weight gradient, and
the input gradient where the input has several channels), for N models of a minibatch of B each:

- `one_at_a_time`: a loop over the models (what training them one by one does);
- `grouped`: one grouped convolution over the N models (what `vmap` runs for a batched model);
- `grouped_channels_last`: the same in the channels-last layout (which `vmap` cannot be asked for:
  its batching rule makes the stacked input contiguous);
- `im2col_bmm`: `unfold` and a batched matrix product;
- `shared_weights`: one plain convolution of all N*B images with one set of weights: not what N
  models need, a reference for what one large convolution of the same images costs.

Milliseconds per call (median of interleaved repeats) and each way's ratio to one at a time.

    python bench/batched_conv_cpu.py --threads 1
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from common import interleaved, median, record

SHAPES = {
    "simplecnn_conv1": (1, 3, 28),
    "simplecnn_conv2": (3, 3, 14),
    "widercnn_conv1": (1, 16, 28),
    "widercnn_conv2": (16, 16, 14),
}
KERNEL, PAD = 7, 3


def ways(models: int, batch: int, c_in: int, c_out: int, size: int) -> dict[str, callable]:
    """The four ways of one shape, each doing forward and backward of N models' convolutions."""
    x = torch.randn(models, batch, c_in, size, size)
    w = torch.randn(models, c_out, c_in, KERNEL, KERNEL)
    needs_input_grad = c_in > 1  # a first layer's input needs no gradient

    def padded(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, (PAD,) * 4, mode="reflect")

    def one_at_a_time() -> None:
        for n in range(models):
            xi, wi = x[n].clone().requires_grad_(needs_input_grad), w[n].clone().requires_grad_()
            F.conv2d(padded(xi), wi).sum().backward()

    def grouped() -> None:
        xs, ws = x.clone().requires_grad_(needs_input_grad), w.clone().requires_grad_()
        stacked = xs.transpose(0, 1).reshape(batch, models * c_in, size, size)
        F.conv2d(
            padded(stacked), ws.reshape(models * c_out, c_in, KERNEL, KERNEL), groups=models
        ).sum().backward()

    def grouped_channels_last() -> None:
        xs, ws = x.clone().requires_grad_(needs_input_grad), w.clone().requires_grad_()
        stacked = padded(xs.transpose(0, 1).reshape(batch, models * c_in, size, size))
        weight = ws.reshape(models * c_out, c_in, KERNEL, KERNEL)
        F.conv2d(
            stacked.contiguous(memory_format=torch.channels_last),
            weight.contiguous(memory_format=torch.channels_last),
            groups=models,
        ).sum().backward()

    def im2col_bmm() -> None:
        xs, ws = x.clone().requires_grad_(needs_input_grad), w.clone().requires_grad_()
        cols = F.unfold(padded(xs.reshape(models * batch, c_in, size, size)), KERNEL)
        cols = (
            cols.view(models, batch, -1, size * size)
            .transpose(1, 2)
            .reshape(models, c_in * KERNEL**2, -1)
        )
        torch.bmm(ws.reshape(models, c_out, -1), cols).sum().backward()

    def shared_weights() -> None:
        xs, ws = x.clone().requires_grad_(needs_input_grad), w[0].clone().requires_grad_()
        F.conv2d(padded(xs.reshape(models * batch, c_in, size, size)), ws).sum().backward()

    return {
        "one_at_a_time": one_at_a_time,
        "grouped": grouped,
        "grouped_channels_last": grouped_channels_last,
        "im2col_bmm": im2col_bmm,
        "shared_weights": shared_weights,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    metrics: dict[str, object] = {
        "models": args.models,
        "batch": args.batch,
        "threads": args.threads,
    }
    for name, (c_in, c_out, size) in SHAPES.items():
        fns = ways(args.models, args.batch, c_in, c_out, size)
        for fn in fns.values():
            fn()  # warm-up
        ms = {way: 1e3 * median(t) for way, t in interleaved(fns, args.repeats, "cpu").items()}
        metrics[name] = {f"{way}_ms": round(v, 3) for way, v in ms.items()}
        metrics[name].update(
            {
                f"{way}_ratio": round(ms["one_at_a_time"] / v, 2)
                for way, v in ms.items()
                if way != "one_at_a_time"
            }
        )
    record("batched_conv_cpu", "cpu", metrics)


if __name__ == "__main__":
    main()
