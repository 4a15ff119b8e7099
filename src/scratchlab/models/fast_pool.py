"""`MaxPool2x2`: `nn.MaxPool2d(2)` with a faster pass on channels-last CUDA tensors (FastCNN).

torch's max pool stores int64 indices and zero-fills the input gradient before scattering into
it. `kernels.fast_pool` keeps one byte per output and writes each input gradient once: 304 ms
of kernels per fast-recipe run against 570 ms for torch's (docs/speed.md). Values and gradients
(second-order ones too) equal torch's: the first maximum of a window (row by row) takes the
gradient, NaN wins; only a window of nothing but -inf may send its gradient elsewhere. Elsewhere
(CPU, no Triton, NCHW, under torch.compile or vmap) it is `F.max_pool2d`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from scratchlab.kernels.support import channels_last_cuda, triton_module


def _kernels() -> Any:
    """The Triton kernel module, or None where Triton is not installed."""
    return triton_module("fast_pool")


def kernel_applies(x: torch.Tensor) -> bool:
    """Whether `MaxPool2x2` runs its own kernels on `x`."""
    return channels_last_cuda(x) and min(x.shape[2:]) >= 2 and _kernels() is not None


class _Pool(torch.autograd.Function):
    """The pool; its backward is `_PoolGrad`, so that gradients of gradients flow."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        out, arg = _kernels().pool_forward(x)
        ctx.save_for_backward(arg)
        ctx.shape = x.shape
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (arg,) = ctx.saved_tensors
        return _PoolGrad.apply(grad, arg, ctx.shape)


class _PoolGrad(torch.autograd.Function):
    """The input gradient of `_Pool`, linear in the output gradient: its own gradient takes, for
    each output, the value at the window position that output came from (as torch's pool)."""

    @staticmethod
    def forward(ctx: Any, grad: torch.Tensor, arg: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        ctx.save_for_backward(arg)
        return _kernels().pool_backward(grad, arg, shape)

    @staticmethod
    def backward(ctx: Any, grad_of_grad_in: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (arg,) = ctx.saved_tensors
        return window_values(grad_of_grad_in, arg), None, None


def window_values(x: torch.Tensor, arg: torch.Tensor) -> torch.Tensor:
    """(N, C, Ho, Wo): for each 2x2 window of `x` (N, C, H, W), its element at position `arg`
    (N, Ho, Wo, C: 0 top left, 1 top right, 2 bottom left, 3 bottom right)."""
    n, ho, wo, c = arg.shape
    windows = x[:, :, : 2 * ho, : 2 * wo].unfold(2, 2, 2).unfold(3, 2, 2).reshape(n, c, ho, wo, 4)
    index = arg.permute(0, 3, 1, 2).long().unsqueeze(-1)
    return windows.gather(-1, index).squeeze(-1).contiguous(memory_format=torch.channels_last)


def max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """`F.max_pool2d(x, 2)`, through the Triton kernels where they apply."""
    return _Pool.apply(x) if kernel_applies(x) else F.max_pool2d(x, 2)


class MaxPool2x2(nn.MaxPool2d):
    """`nn.MaxPool2d(2)` computed by `max_pool_2x2` (its settings read as those of the parent)."""

    def __init__(self) -> None:
        super().__init__(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return max_pool_2x2(x)


class GlobalMaxPool(nn.Module):
    """`nn.AdaptiveMaxPool2d(1)` then `nn.Flatten()`: (N, C, H, W) -> (N, C), the gradient to the
    first maximum of each map (of a map with several NaNs, to the first, where torch's pool takes
    the last), as one reduction (torch's adaptive pool is slow on channels-last CUDA tensors:
    0.4 ms per step of the fast recipe for a 2000x256x3x3 input)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).max(dim=2).values
