"""A 2x2 max pool (stride 2) whose backward pass reads the input instead of saved indices.

`F.max_pool2d` saves the int64 position of each window's maximum and scatters the gradient
through it. `max_pool_2x2` saves the input and the pooled output instead and sends each window's
gradient to the input that equals the window's maximum: the first one in row-major order when
several tie, the element `F.max_pool2d` picks, so both give the same gradient (tested). On a GPU
in bf16 and channels-last layout this backward is a few elementwise passes over strided views;
the forward pass is `F.max_pool2d` itself. `bench/maxpool_speed.py` times both.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable


class _MaxPool2x2(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = F.max_pool2d(x, 2)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        x, y = ctx.saved_tensors
        return max_pool_2x2_backward(x, y, grad)


def max_pool_2x2_backward(x: torch.Tensor, y: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """The input gradient of a 2x2 max pool with output `y` of input `x`, given the output
    gradient `grad`; an odd last row or column (dropped by the pool) gets zero."""
    ho, wo = y.shape[-2:]
    out = torch.empty_like(x)
    if x.shape[-2] > 2 * ho:
        out[..., 2 * ho:, :].zero_()
    if x.shape[-1] > 2 * wo:
        out[..., :, 2 * wo:].zero_()
    zero, taken = grad.new_zeros(()), None
    for dh, dw in ((0, 0), (0, 1), (1, 0), (1, 1)):
        window = (..., slice(dh, 2 * ho, 2), slice(dw, 2 * wo, 2))
        hit = x[window] == y
        if taken is not None:
            hit &= ~taken
        torch.where(hit, grad, zero, out=out[window])
        taken = hit if taken is None else taken | hit
    return out


def max_pool_2x2(x: torch.Tensor, read_input: bool | None = None) -> torch.Tensor:
    """`F.max_pool2d(x, 2)`; with `read_input` (default: on a GPU) through the backward pass
    described in the module docstring (on a CPU torch's own is faster)."""
    read_input = x.is_cuda if read_input is None else read_input
    if not (read_input and torch.is_grad_enabled() and x.requires_grad):
        return F.max_pool2d(x, 2)
    return _MaxPool2x2.apply(x)


class MaxPool2x2(nn.MaxPool2d):
    """`nn.MaxPool2d(2)` computed by `max_pool_2x2` (same outputs and gradients)."""

    def __init__(self) -> None:
        super().__init__(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return max_pool_2x2(x)
