"""Global average pooling and a linear layer of N models at once (the head of the EdgeCNNs'
stacked forward, `models.stacked`), through Triton kernels on a GPU.

torch computes it as an average pool, a transpose, a batched product and a bias, and their
gradients as four kernels more; `pooled_linear` is one kernel forward and two backward
(`kernels.tiny_head`), with torch's values up to float32 round-off. Elsewhere (CPU, no Triton,
more than 16 channels or outputs per model) it is torch's operations.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from scratchlab.kernels.support import (
    checked,
    each_model_contiguous,
    on_device,
    relative_difference,
    triton_module,
)

ENV_OFF = "SCRATCHLAB_TINY_HEAD"  # set to 0 to use torch's operations everywhere


def _kernels() -> Any:
    return triton_module("tiny_head")


def kernel_applies(maps: Tensor, weight: Tensor) -> bool:
    """Whether `pooled_linear` runs the Triton kernels on these tensors."""
    n, o, f = weight.shape
    return (maps.is_cuda and maps.dtype == torch.float32 == weight.dtype and maps.dim() == 4
            and maps.is_contiguous() and maps.shape[1] == n * f and f <= 16 and o <= 16
            and 0 < maps.numel() < 2**31 and not torch.compiler.is_compiling()
            and os.environ.get(ENV_OFF, "1") != "0" and _kernels() is not None
            and checked("tiny_head", maps.device, _check, 1e-4))


def pooled_linear(maps: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """Scores `(N, B, O)`: each model's maps (`(B, N * F, H, W)`, side by side) averaged over
    their pixels, then its linear layer `weight` `(N, O, F)`, `bias` `(N, O)`."""
    if kernel_applies(maps, weight):  # each model's weights read in place where contiguous
        return _PooledLinear.apply(maps, each_model_contiguous(weight),
                                   None if bias is None else each_model_contiguous(bias))
    return _torch_head(maps, weight, bias)


def _torch_head(maps: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    n = weight.shape[0]
    pooled = maps.mean(dim=(2, 3)).view(maps.shape[0], n, -1)
    out = pooled.transpose(0, 1) @ weight.transpose(1, 2)
    return out if bias is None else out + bias.unsqueeze(1)


def _check(device: torch.device) -> float:
    """The kernels' largest relative difference to torch in float64 (scores and gradients of 2
    models' heads, 5 samples of 3 channels of 7x6 pixels, 4 outputs)."""
    gen = torch.Generator().manual_seed(0)
    tensors = (torch.randn(5, 6, 7, 6, generator=gen), torch.randn(2, 4, 3, generator=gen),
               torch.randn(2, 4, generator=gen))
    grad = torch.randn(2, 5, 4, generator=gen, dtype=torch.float64).to(device)
    found = []
    for dtype in (torch.float64, torch.float32):
        leaves = [t.to(device, dtype).requires_grad_() for t in tensors]
        fn = _torch_head if dtype == torch.float64 else _PooledLinear.apply
        out = fn(*leaves)
        found.append([out, *torch.autograd.grad(out, leaves, grad.to(dtype))])
    return relative_difference(found[1], found[0])


class _PooledLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, maps: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        with on_device(maps.device):
            scores, pooled = _kernels().forward(maps, weight, bias)
        ctx.save_for_backward(weight, pooled)
        ctx.maps_shape = maps.shape
        ctx.has_bias = bias is not None
        return scores

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        weight, pooled = ctx.saved_tensors
        with on_device(grad.device):
            gm, gw, gb = _kernels().backward(grad.contiguous(), weight, pooled, ctx.maps_shape,
                                             ctx.needs_input_grad[0])
        return gm, gw, gb if ctx.has_bias else None
