"""Layers of N same-architecture models applied at once, the models side by side in the channels.

A batch of N models' maps is one tensor `(B, N * C, H, W)`: model i owns channels `i * C` to
`(i + 1) * C`. A convolution of all N is then one grouped convolution (groups = N), a ReLU or a
pool acts per channel as it is, and nothing is transposed between layers. This is what
`torch.func.vmap` computes for a convolution too, but vmap moves the model dimension into the
channels and back around every layer, a copy each way; on a GPU, where a step of such small
models is a few dozen tiny kernels, those copies were a large share of them.

`StackedModels` holds N models as one row of weights per model, with that forward (or vmap's)
for all of them: what the batched trainer (`training.accel.batched`) steps.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from scratchlab.errors import ConfigError
from scratchlab.models.tiny_conv import tiny_conv2d
from scratchlab.util.tensors import unflatten

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


def unsupported_reason(model: nn.Module) -> str | None:
    """Why the batched trainer cannot train `model` (None when it can)."""
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._NormBase):
            return (f"it has a {type(module).__name__} ({name}), whose running statistics are "
                    "not batched")
        if isinstance(module, nn.modules.dropout._DropoutNd) and module.p > 0:
            return (f"it has a {type(module).__name__} ({name}) whose random masks would differ "
                    "from single training")
    if hasattr(model, "classify_scores"):
        return "it classifies its scores with its own rule (classify_scores)"
    if not any(p.requires_grad for p in model.parameters()):
        return "it has no trainable parameters"
    return None


def architecture(model: nn.Module) -> tuple[Any, ...]:
    """What must be equal for models to be stacked: class, layers, parameter and buffer shapes."""
    params = tuple((n, tuple(p.shape), p.dtype, p.requires_grad)
                   for n, p in model.named_parameters())
    buffers = tuple((n, tuple(b.shape), b.dtype) for n, b in model.named_buffers())
    return type(model), repr(model), params, buffers


class StackedModels:
    """N models of one architecture as stacked tensors on `device`, with one forward for all:
    the model's own `forward_stacked` where it has one (`models.stacked.stacked_forward`: the
    models side by side in the channels), else `forward` vmapped over the models."""

    def __init__(self, models: Sequence[nn.Module], device: torch.device) -> None:
        if not models:
            raise ConfigError("the batched trainer needs at least one model")
        reason = unsupported_reason(models[0])
        if reason:
            raise ConfigError(f"the batched trainer cannot train {type(models[0]).__name__}: "
                              f"{reason}; train it alone")
        first = architecture(models[0])
        for i, model in enumerate(models[1:], start=1):
            if architecture(model) != first:
                raise ConfigError(f"model {i} differs in architecture from model 0; models trained "
                                  "together must be identical but for their weights")
        self.count = len(models)
        self.base = copy.deepcopy(models[0]).to(device)
        self.state_names = list(models[0].state_dict())
        named = [dict(m.named_parameters()) | dict(m.named_buffers()) for m in models]
        self.trainable = [n for n, p in models[0].named_parameters() if p.requires_grad]
        self.shapes = [tuple(named[0][n].shape) for n in self.trainable]
        # Trainable parameters: one row per model, each parameter a view into it (so one optimizer
        # step updates them all); frozen parameters and buffers: one stacked tensor each.
        rows = [torch.stack([m[n].detach().reshape(-1) for m in named]) for n in self.trainable]
        self.flat = torch.cat(rows, dim=1).to(device)
        self.trainable_tensors = [view.requires_grad_(True)
                                  for view in unflatten(self.flat, self.shapes)]
        self.tensors = dict(zip(self.trainable, self.trainable_tensors, strict=True))
        self.tensors |= {n: torch.stack([m[n].detach() for m in named]).to(device)
                         for n in named[0] if n not in self.tensors}
        self._forward = (stacked_forward(self.base)
                         or vmap(partial(functional_call, self.base)))

    def __call__(self, x: Tensor) -> Tensor:
        """Every model's scores `(N, B, C)` for its own inputs `(N, B, ...)`."""
        return self._forward(self.tensors, x)

    def flat_grad(self, grads: Sequence[Tensor]) -> Tensor:
        """Gradients of the trainable parameters laid out like `flat`."""
        return torch.cat([g.reshape(self.count, -1) for g in grads], dim=1)

    def state_dict(self, index: int, flat: Tensor | None = None) -> dict[str, Tensor]:
        """Model `index`'s state dict (CPU copies); its trainable values from `flat` when given."""
        values = dict(self.tensors)
        if flat is not None:
            values.update(zip(self.trainable, unflatten(flat, self.shapes), strict=True))
        return {name: values[name][index].detach().cpu().clone() for name in self.state_names}
