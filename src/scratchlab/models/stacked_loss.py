"""The cross-entropy of N models' class scores at once: per-sample losses, their mean per model
and the correct count per model, in one kernel on a GPU (and the scores' gradient in one more).

On a GPU, where a step of the inductive-bias study's small models is a few dozen tiny kernels,
torch's cross-entropy, mean, argmax and count (and their backward pass) were about a dozen of
them. The values are torch's (`F.cross_entropy` with `label_smoothing`, `argmax`'s first
maximum) up to float32 round-off. Elsewhere (CPU, no Triton, more than 16 classes, other dtypes)
torch's own operations compute them.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from scratchlab.kernels.support import checked, on_device, relative_difference, triton_module

ENV_OFF = "SCRATCHLAB_FUSED_LOSS"  # set to 0 to use torch's operations everywhere


def _kernels() -> Any:
    return triton_module("stacked_loss")


def kernel_applies(scores: Tensor, labels: Tensor) -> bool:
    """Whether `stacked_cross_entropy` runs the Triton kernels on these tensors (a label out of
    range gives a NaN loss there, where torch raises or asserts on the device)."""
    return (scores.is_cuda and scores.dtype == torch.float32 and scores.dim() == 3
            and 2 <= scores.shape[-1] <= 16 and labels.dtype == torch.long
            and labels.shape == scores.shape[:2] and labels.device == scores.device
            and 0 < scores.numel() < 2**31 and not torch.compiler.is_compiling()
            and os.environ.get(ENV_OFF, "1") != "0" and _kernels() is not None
            and checked("stacked_loss", scores.device, _check, 1e-4))


def stacked_cross_entropy(scores: Tensor, labels: Tensor, label_smoothing: float = 0.0
                          ) -> tuple[Tensor, Tensor, Tensor]:
    """Per-sample losses `(N, B)`, per-model mean losses `(N,)` and correct counts `(N,)` of the
    scores `(N, B, C)` of N models for their labels `(N, B)`."""
    if kernel_applies(scores, labels):
        return _CrossEntropy.apply(scores.contiguous(), labels, label_smoothing)
    return _torch_loss(scores, labels, label_smoothing)


def _torch_loss(scores: Tensor, labels: Tensor, label_smoothing: float
                ) -> tuple[Tensor, Tensor, Tensor]:
    n, b = labels.shape
    losses = F.cross_entropy(scores.reshape(n * b, -1), labels.reshape(-1), reduction="none",
                             label_smoothing=label_smoothing).view(n, b)
    correct = (scores.detach().argmax(dim=-1) == labels).sum(dim=1)
    return losses, losses.mean(dim=1), correct


def _check(device: torch.device) -> float:
    """The kernels' largest relative difference to torch in float64 (losses, means and the
    scores' gradient of 3 models, 70 samples of 5 classes, label smoothing 0.1); inf where a
    correct count differs."""
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(3, 70, 5, generator=gen)
    labels = torch.randint(0, 5, (3, 70), generator=gen).to(device)
    weights = torch.randn(3, 70, generator=gen, dtype=torch.float64).to(device)
    found = []
    for dtype in (torch.float64, torch.float32):
        s = scores.to(device, dtype).requires_grad_()
        fn = _torch_loss if dtype == torch.float64 else _CrossEntropy.apply
        losses, means, correct = fn(s, labels, 0.1)
        total = (losses * weights.to(dtype)).sum() + means.sum()
        found.append(([losses, means, *torch.autograd.grad(total, s)], correct))
    if not torch.equal(found[0][1], found[1][1]):
        return float("inf")
    return relative_difference(found[1][0], found[0][0])


class _CrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, scores: Tensor, labels: Tensor, smoothing: float
                ) -> tuple[Tensor, Tensor, Tensor]:
        with on_device(scores.device):
            losses, means, correct = _kernels().forward(scores, labels, smoothing)
        ctx.save_for_backward(scores, labels)
        ctx.smoothing = smoothing
        ctx.mark_non_differentiable(correct)
        ctx.set_materialize_grads(False)  # an output without a gradient gets None, not zeros
        return losses, means, correct

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, loss_grad: Tensor | None, mean_grad: Tensor | None,
                 _: Tensor | None) -> tuple[Tensor | None, None, None]:
        scores, labels = ctx.saved_tensors
        with on_device(scores.device):
            grad = _kernels().backward(
                scores, labels, ctx.smoothing,
                None if loss_grad is None else loss_grad.contiguous(),
                None if mean_grad is None else mean_grad.contiguous())
        return grad, None, None
