"""BatchNorm followed by exact GELU in one pass each way: `batch_norm_gelu(norm, x)`.

On a channels-last CUDA tensor (with Triton installed, outside torch.compile and vmap) the
statistics, the normalisation and the GELU run as the Triton kernels of `kernels.fast_norm`:
the forward pass reads its input twice and writes once, the backward pass reads input and
gradient twice and writes once, where BatchNorm then GELU read and write every element again
(a GELU input is stored for the backward pass). Elsewhere it is `F.gelu(norm(x))`. Values and
gradients equal torch's up to float round-off; the running statistics move as torch moves them.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from scratchlab.kernels.support import channels_last_cuda, triton_module


def _kernels() -> Any:
    """The Triton kernel module, or None where Triton is not installed."""
    return triton_module("fast_norm")


def kernel_applies(x: torch.Tensor) -> bool:
    """Whether `batch_norm_gelu` runs its own kernels on `x`."""
    return (x.dtype in (torch.float32, torch.float16, torch.bfloat16) and channels_last_cuda(x)
            and _kernels() is not None)


def batch_norm_gelu(norm: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """`F.gelu(norm(x))` (exact GELU), through the fused kernels where they apply (a plain
    BatchNorm2d with a momentum: not SyncBatchNorm, not a cumulative average)."""
    batch = norm.training or not norm.track_running_stats
    if (type(norm) is not nn.BatchNorm2d or norm.momentum is None or not kernel_applies(x)
            or (batch and x.numel() == x.shape[1])):  # one value per channel: torch's error
        return F.gelu(norm(x))
    weight, bias = _affine(norm, x)
    if batch:
        update = norm.training and norm.track_running_stats
        running = (norm.running_mean, norm.running_var) if update else None
        mean, rstd = _kernels().batch_stats(x.detach(), norm.eps, running, norm.momentum)
        if update:
            norm.num_batches_tracked.add_(1)
    else:
        mean, rstd = norm.running_mean.float(), torch.rsqrt(norm.running_var.float() + norm.eps)
    return _NormGelu.apply(x, weight, bias, mean, rstd, batch, norm.eps)


def _affine(norm: nn.BatchNorm2d, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if norm.affine:
        return norm.weight, norm.bias
    ones = torch.ones(x.shape[1], dtype=torch.float32, device=x.device)
    return ones, torch.zeros_like(ones)


class _NormGelu(torch.autograd.Function):
    """GELU((x - mean) * rstd * weight + bias) with the given statistics; its backward pass
    counts the batch statistics as functions of x when `batch` is set."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                mean: torch.Tensor, rstd: torch.Tensor, batch: bool, eps: float) -> torch.Tensor:
        ctx.save_for_backward(x, weight, bias, mean, rstd)
        ctx.batch, ctx.eps = batch, eps
        return _kernels().normalize_gelu(x, mean, rstd, weight, bias)

    @staticmethod
    def backward(ctx: Any, dz: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight, bias, mean, rstd = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: torch's layers give differentiable gradients
            grads = _composite_gradients(dz, x, weight, bias, mean, rstd, ctx.batch, ctx.eps)
        else:
            grads = _kernels().gradients(dz, x, mean, rstd, weight, bias, ctx.batch)
        return *(g if need else None for g, need in zip(grads, ctx.needs_input_grad[:3],
                                                         strict=True)), None, None, None, None


def _composite_gradients(dz: torch.Tensor, x: torch.Tensor, weight: torch.Tensor,
                         bias: torch.Tensor, mean: torch.Tensor, rstd: torch.Tensor,
                         batch: bool, eps: float) -> tuple[torch.Tensor, ...]:
    """The gradients of the forward pass rebuilt from torch's layers, themselves differentiable."""
    with torch.enable_grad():
        inputs = [t if t.requires_grad else t.detach().requires_grad_() for t in (x, weight, bias)]
        if batch:
            y = F.batch_norm(inputs[0], None, None, inputs[1], inputs[2], True, 0.0, eps)
        else:
            shape = (1, -1, 1, 1)
            y = ((inputs[0] - mean.view(shape)) * rstd.view(shape) * inputs[1].view(shape)
                 + inputs[2].view(shape))
        return torch.autograd.grad(F.gelu(y), inputs, dz, create_graph=True)
