"""Batch normalisation over (N, C) or (N, C, H, W) inputs, with running statistics."""

from __future__ import annotations

import torch
from torch import Tensor

from scratchlab.errors import ConfigError, ShapeError
from scratchlab.scratch.layer import Layer


class BatchNorm(Layer):
    """Normalise each channel, then scale by `gamma` and shift by `beta`.

    In training mode the batch statistics are used (biased variance) and the running statistics
    are updated with `momentum`, the running variance being unbiased, as in torch. In eval mode
    the running statistics are used.

    Args:
        num_features: the channel count C.
        eps: added to the variance before the square root.
        momentum: weight of the new batch in the running averages.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        if num_features < 1 or not 0 <= momentum <= 1:
            raise ConfigError(
                f"BatchNorm needs num_features >= 1 and momentum in [0, 1], got "
                f"num_features={num_features}, momentum={momentum}"
            )
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.add_param("gamma", torch.ones(num_features))
        self.add_param("beta", torch.zeros(num_features))
        self.add_buffer("running_mean", torch.zeros(num_features))
        self.add_buffer("running_var", torch.ones(num_features))

    def _dims(self, x: Tensor) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The reduction dims and the broadcast shape of per-channel values."""
        if x.ndim not in (2, 4) or x.shape[1] != self.num_features:
            raise ShapeError(
                f"{self!r} expects input of shape (N, {self.num_features}) or "
                f"(N, {self.num_features}, H, W), got {tuple(x.shape)}"
            )
        return ((0,), (1, -1)) if x.ndim == 2 else ((0, 2, 3), (1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        dims, shape = self._dims(x)
        if self.training:
            mean = x.mean(dim=dims, keepdim=True)
            var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
            self._update_running(mean, var, x.numel() // self.num_features)
        else:
            mean, var = self.running_mean.reshape(shape), self.running_var.reshape(shape)
        inv_std = 1 / torch.sqrt(var + self.eps)
        x_hat = (x - mean) * inv_std
        self._cache = {"x_hat": x_hat, "inv_std": inv_std, "dims": dims, "train": self.training}
        return self.gamma.reshape(shape) * x_hat + self.beta.reshape(shape)

    @torch.no_grad()
    def _update_running(self, mean: Tensor, var: Tensor, count: int) -> None:
        m = self.momentum
        unbiased = var.flatten() * count / max(count - 1, 1)
        self.running_mean.mul_(1 - m).add_(m * mean.flatten())
        self.running_var.mul_(1 - m).add_(m * unbiased)

    def backward(self, dout: Tensor) -> Tensor:
        x_hat, inv_std, dims, train = self.saved("x_hat", "inv_std", "dims", "train")
        shape = inv_std.shape
        self.grads["gamma"] += (dout * x_hat).sum(dim=dims)
        self.grads["beta"] += dout.sum(dim=dims)
        d_hat = dout * self.gamma.reshape(shape)
        if not train:
            return d_hat * inv_std
        count = dout.numel() // self.num_features
        mean_d = d_hat.sum(dim=dims, keepdim=True) / count
        mean_dx = (d_hat * x_hat).sum(dim=dims, keepdim=True) / count
        return (d_hat - mean_d - x_hat * mean_dx) * inv_std

    def extra_repr(self) -> str:
        return f"num_features={self.num_features}"
