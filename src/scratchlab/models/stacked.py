"""Layers of N same-architecture models applied at once, the models side by side in the channels.

A batch of N models' maps is one tensor `(B, N * C, H, W)`: model i owns channels `i * C` to
`(i + 1) * C`. A convolution of all N is then one grouped convolution (groups = N), a ReLU or a
pool acts per channel as it is, and nothing is transposed between layers. This is what
`torch.func.vmap` computes for a convolution too, but vmap moves the model dimension into the
channels and back around every layer, a copy each way; on a GPU, where a step of such small
models is a few dozen tiny kernels, those copies were a large share of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from scratchlab.models.tiny_conv import tiny_conv2d

PER_CHANNEL = (nn.ReLU, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Identity)
# Devices on which the stacked maps are kept channels-last: on a CPU the grouped convolutions of
# the inductive-bias study's layers ran 1.3-2.2x faster so (bench/stacked_conv.py); not yet
# measured on a GPU (`bench/stacked_conv.py --device cuda` times both layouts).
CHANNELS_LAST = {"cpu"}


def models_into_channels(x: Tensor) -> Tensor:
    """`(N, B, C, H, W)`, each model's own inputs, as `(B, N * C, H, W)`, channels-last on the
    devices of `CHANNELS_LAST` (the layers after keep the layout)."""
    n, b = x.shape[:2]
    maps = x.transpose(0, 1).reshape(b, n * x.shape[2], *x.shape[3:])
    if x.device.type in CHANNELS_LAST:
        return maps.contiguous(memory_format=torch.channels_last)
    return maps


def grouped_conv2d(layer: nn.Conv2d, weight: Tensor, bias: Tensor | None, x: Tensor,
                   relu: bool = False, pool: str | None = None) -> Tensor:
    """`layer` applied with N models' stacked `weight` `(N, out, in, k, k)` and `bias` `(N,
    out)` to their maps side by side `(B, N * in, H, W)`: `(B, N * out, H', W')`, then a ReLU
    with `relu` and a 2x2 "max" or "avg" `pool`. On a GPU through `tiny_conv` (one kernel for
    padding, convolution, ReLU and pool, reading the stacked weights in place)."""
    return tiny_conv2d(layer, weight, bias, x, weight.shape[0] * layer.groups, relu, pool)


def stacked_linear(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """N models' linear layers at once: inputs `(N, B, in)`, stacked `weight` `(N, out, in)` and
    `bias` `(N, out)`; `(N, B, out)` from one batched matrix product (the bias added in it)."""
    if bias is None:
        return torch.bmm(x, weight.transpose(1, 2))
    return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))


def acts_per_channel(module: nn.Module) -> bool:
    """Whether `module` treats each channel on its own and has no parameters (so it applies to
    N models side by side unchanged)."""
    return isinstance(module, PER_CHANNEL) and not any(True for _ in module.parameters())


def stacked_forward(model: nn.Module) -> Callable[[Mapping[str, Tensor], Tensor], Tensor] | None:
    """`model.forward_stacked` when it computes what `forward` computes for each model: the
    model's class defines it beside the `forward` in use, and every layer is a convolution, a
    linear layer or a parameter-free per-channel layer. None otherwise (use vmap)."""
    cls = type(model)
    owner = next((c for c in cls.__mro__ if "forward_stacked" in c.__dict__), None)
    if owner is None or cls.forward is not owner.forward:
        return None  # no stacked forward, or a subclass changed `forward` after it
    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    if all(isinstance(m, nn.Conv2d | nn.Linear) or acts_per_channel(m) for m in leaves):
        return model.forward_stacked  # type: ignore[no-any-return]
    return None
