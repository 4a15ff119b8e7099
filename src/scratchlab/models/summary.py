"""`summary(model, input_size)`: parameters, multiply-adds and receptive field of a model."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from scratchlab.errors import ShapeError
from scratchlab.models.layers import eval_mode

SPATIAL = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


@dataclass
class LayerRow:
    """One executed leaf module: its name, type, output shape, trainable parameters and MACs."""

    name: str
    kind: str
    out_shape: tuple[int, ...]
    params: int
    flops: int


@dataclass
class ModelSummary:
    """What `summary` measured.

    Attributes:
        params: trainable parameters of the whole model.
        flops: multiply-adds of one forward pass on one sample (Conv and Linear layers; bias
            additions, activations, norms and pools are not counted).
        receptive_field: side of the input region one output pixel of the last Conv2d/pool layer
            sees; an int for square fields, (height, width) otherwise; None without such layers.
        rf_stride: input pixels between neighbouring output pixels of that layer, per axis.
        rf_start: input coordinate of the first row/column seen by output pixel (0, 0); negative
            where it lies in the padding.
        layers: one row per executed leaf module, in execution order.
    """

    input_size: tuple[int, ...]
    params: int
    flops: int
    receptive_field: int | tuple[int, int] | None
    rf_stride: tuple[int, int] | None = None
    rf_start: tuple[int, int] | None = None
    layers: list[LayerRow] = field(default_factory=list)

    @property
    def activations(self) -> int:
        """Values the executed leaf modules output for one sample."""
        return sum(math.prod(r.out_shape) for r in self.layers)

    def __str__(self) -> str:
        width = max([len(r.name) for r in self.layers] + [5])
        head = f"{'layer':<{width}}  {'type':<18} {'output shape':<22} {'params':>12} {'MACs':>16}"
        lines = [head, "-" * len(head)]
        for r in self.layers:
            shape = str(tuple(r.out_shape))
            lines.append(
                f"{r.name:<{width}}  {r.kind:<18} {shape:<22} {r.params:>12,} {r.flops:>16,}"
            )
        lines.append("-" * len(head))
        lines.append(f"input size (without batch): {self.input_size}")
        lines.append(f"trainable parameters: {self.params:,}")
        lines.append(f"multiply-adds per sample: {self.flops:,}")
        if self.receptive_field is not None:
            lines.append(
                f"receptive field: {self.receptive_field} "
                f"(stride {self.rf_stride}, start {self.rf_start})"
            )
        return "\n".join(lines)


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _geometry(module: nn.Module) -> tuple[tuple[int, int], ...]:
    """Kernel, stride, padding and dilation of a Conv2d or pool layer, per axis."""
    kernel = _pair(module.kernel_size)
    stride = _pair(module.stride if module.stride is not None else module.kernel_size)
    dilation = _pair(getattr(module, "dilation", 1))
    padding = module.padding
    if isinstance(padding, str):  # "same" pads (total // 2) before, "valid" none
        padding = tuple(
            d * (k - 1) // 2 if padding == "same" else 0
            for k, d in zip(kernel, dilation, strict=True)
        )
    return kernel, stride, _pair(padding), dilation


def _macs(module: nn.Module, output: torch.Tensor) -> int:
    if isinstance(module, nn.modules.conv._ConvNd):
        per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
        return output.numel() * per_output
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


def summary(model: nn.Module, input_size: Sequence[int]) -> ModelSummary:
    """Parameters, multiply-adds and receptive field of `model` on one input of `input_size`.

    Runs one forward pass (eval mode, no grad, modes restored after) on a zero input of shape (1,
    *input_size) and records every leaf module through forward hooks, in execution order. The
    receptive field composes the Conv2d/MaxPool2d/AvgPool2d layers in execution order, which is
    exact for chains (and for residual nets, whose 1x1 shortcuts do not widen it).
    """
    rows: list[LayerRow] = []
    spatial: list[nn.Module] = []
    names = {module: name for name, module in model.named_modules()}

    def hook(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        if isinstance(module, SPATIAL):
            spatial.append(module)
        if not isinstance(output, torch.Tensor):
            return
        params = sum(p.numel() for p in module.parameters(recurse=False) if p.requires_grad)
        name = names.get(module, "") or type(module).__name__
        rows.append(
            LayerRow(
                name, type(module).__name__, tuple(output.shape[1:]), params, _macs(module, output)
            )
        )

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    first = next(model.parameters(), None)
    x = torch.zeros(1, *input_size, device=first.device if first is not None else "cpu")
    try:
        with eval_mode(model):
            model(x)
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[0]
        raise ShapeError(
            f"{type(model).__name__} cannot take an input of size {tuple(input_size)} "
            f"({reason}); give the size it was built for"
        ) from None
    finally:
        for handle in handles:
            handle.remove()
    field_, stride, start = _receptive_field(spatial)
    return ModelSummary(
        input_size=tuple(input_size),
        params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        flops=sum(r.flops for r in rows),
        receptive_field=field_,
        rf_stride=stride,
        rf_start=start,
        layers=rows,
    )


def _receptive_field(layers: list[nn.Module]):
    """(field, stride, start) composed over `layers`; field is an int when square."""
    if not layers:
        return None, None, None
    size, jump, start = [1, 1], [1, 1], [0, 0]
    for module in layers:
        kernel, stride, padding, dilation = _geometry(module)
        for axis in range(2):
            span = dilation[axis] * (kernel[axis] - 1)
            size[axis] += span * jump[axis]
            start[axis] -= padding[axis] * jump[axis]
            jump[axis] *= stride[axis]
    field_ = size[0] if size[0] == size[1] else (size[0], size[1])
    return field_, (jump[0], jump[1]), (start[0], start[1])
