"""Fully connected layer, dropout and flatten."""

from __future__ import annotations

import torch
from torch import Tensor

from scratchlab.errors import ConfigError, ShapeError
from scratchlab.scratch.layer import Layer


class Linear(Layer):
    """y = x w^T + b for inputs of shape (N, in_features).

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        wstd: standard deviation of the normal initialisation of `w` (`b` starts at zero).
    """

    def __init__(self, in_features: int, out_features: int, wstd: float = 0.1) -> None:
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ConfigError(
                f"Linear needs positive sizes, got in_features={in_features}, "
                f"out_features={out_features}"
            )
        self.in_features, self.out_features = in_features, out_features
        self.add_param("w", torch.randn(out_features, in_features) * wstd)
        self.add_param("b", torch.zeros(out_features))

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ShapeError(
                f"{self!r} expects input of shape (N, {self.in_features}), got {tuple(x.shape)}; "
                "reshape the input or change in_features"
            )
        self._cache = {"x": x}
        return x @ self.w.T + self.b

    def backward(self, dout: Tensor) -> Tensor:
        x = self.saved("x")
        self.grads["w"] += dout.T @ x
        self.grads["b"] += dout.sum(dim=0)
        return dout @ self.w

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


class Dropout(Layer):
    """Inverted dropout: zeroes each entry with probability p and scales the rest by 1/(1-p).

    The mask comes from torch's global RNG; in eval mode the layer is the identity.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ConfigError(f"Dropout p must be in [0, 1), got p={p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            self._cache = {"mask": None}
            return x
        keep = torch.rand(x.shape, device=x.device) >= self.p
        mask = keep.to(x.dtype) / (1 - self.p)
        self._cache = {"mask": mask}
        return x * mask

    def backward(self, dout: Tensor) -> Tensor:
        mask = self.saved("mask")
        return dout if mask is None else dout * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Flatten(Layer):
    """Reshape (N, ...) to (N, features)."""

    def forward(self, x: Tensor) -> Tensor:
        self._cache = {"shape": x.shape}
        return x.reshape(x.shape[0], -1)

    def backward(self, dout: Tensor) -> Tensor:
        return dout.reshape(self.saved("shape"))
