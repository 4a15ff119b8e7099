"""Loss layers: forward takes (inputs, targets) and returns the mean loss as a scalar."""

from __future__ import annotations

import torch
from torch import Tensor

from scratchlab.errors import ShapeError
from scratchlab.scratch.layer import Loss


def _same_shape(layer: Loss, x: Tensor, y: Tensor) -> None:
    if x.shape != y.shape:
        raise ShapeError(
            f"{layer!r} expects targets of the input's shape {tuple(x.shape)}, got {tuple(y.shape)}"
        )


class CrossEntropyLoss(Loss):
    """Mean of -log softmax(x)[y] over the batch, for class scores x (N, C) and labels y (N,).

    Equal to `torch.nn.functional.cross_entropy`; computed with a shifted (stable) log-sum-exp.
    """

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        if x.ndim != 2 or y.shape != (x.shape[0],):
            raise ShapeError(
                f"{self!r} expects scores (N, C) and labels (N,), got {tuple(x.shape)} and "
                f"{tuple(y.shape)}"
            )
        if len(y) and (y.min() < 0 or y.max() >= x.shape[1]):
            raise ShapeError(
                f"{self!r}: labels must lie in [0, {x.shape[1]}), "
                f"got {int(y.min())}..{int(y.max())}"
            )
        shift = x.max(dim=1, keepdim=True).values.detach()  # any constant works: no gradient
        z = x - shift
        log_sum_exp = torch.log(torch.exp(z).sum(dim=1))
        picked = z.gather(1, y.long().unsqueeze(1)).squeeze(1)
        self._cache = {"z": z, "y": y.long()}
        return (log_sum_exp - picked).mean()

    def backward(self, dout: Tensor | float = 1.0) -> Tensor:
        z, y = self.saved("z", "y")
        dx = torch.softmax(z, dim=1)
        dx[torch.arange(len(y), device=y.device), y] -= 1
        return dx * (dout / len(y))


class BCELoss(Loss):
    """Binary cross-entropy on probabilities p in [0, 1] against targets y of the same shape.

    Like torch, each log is clamped at -100, so p = 0 or 1 gives a finite loss. The gradient is
    that of this clamped loss (zero where a log is clamped), hence finite too; torch's backward
    instead divides by max(p (1 - p), 1e-12), so the two differ only where p (1 - p) < 1e-12.
    """

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        _same_shape(self, x, y)
        log_p = torch.clamp(torch.log(x), min=-100)
        log_q = torch.clamp(torch.log(1 - x), min=-100)
        self._cache = {"x": x, "y": y, "log_p": log_p, "log_q": log_q}
        return -(y * log_p + (1 - y) * log_q).mean()

    def backward(self, dout: Tensor | float = 1.0) -> Tensor:
        x, y, log_p, log_q = self.saved("x", "y", "log_p", "log_q")
        d_log_p = torch.where(log_p > -100, 1 / x, 0.0)  # the clamp passes no gradient
        d_log_q = torch.where(log_q > -100, 1 / (1 - x), 0.0)
        return (d_log_q * (1 - y) - d_log_p * y) * (dout / x.numel())


class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy on logits: BCE(sigmoid(x), y), computed stably."""

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        _same_shape(self, x, y)
        self._cache = {"x": x, "y": y}
        loss = torch.clamp(x, min=0) - x * y + torch.log1p(torch.exp(-torch.abs(x)))
        return loss.mean()

    def backward(self, dout: Tensor | float = 1.0) -> Tensor:
        x, y = self.saved("x", "y")
        return (torch.sigmoid(x) - y) * (dout / x.numel())
