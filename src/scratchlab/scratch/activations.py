"""Element-wise activation layers; they accept inputs of any rank."""

from __future__ import annotations

import torch
from torch import Tensor

from scratchlab.errors import ConfigError
from scratchlab.scratch.layer import Layer


class ReLU(Layer):
    """max(x, 0); the gradient at exactly 0 is 0, like torch."""

    def forward(self, x: Tensor) -> Tensor:
        self._cache = {"x": x}
        return torch.where(x > 0, x, 0.0)

    def backward(self, dout: Tensor) -> Tensor:
        x = self.saved("x")
        return torch.where(x > 0, dout, 0.0)


class LeakyReLU(Layer):
    """x for x > 0, alpha * x otherwise.

    Args:
        alpha: slope for negative inputs, in [0, 1).
    """

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        if not 0 <= alpha < 1:
            raise ConfigError(f"LeakyReLU alpha must be in [0, 1), got alpha={alpha}")
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        self._cache = {"x": x}
        return torch.where(x > 0, x, self.alpha * x)

    def backward(self, dout: Tensor) -> Tensor:
        x = self.saved("x")
        return torch.where(x > 0, dout, self.alpha * dout)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class Sigmoid(Layer):
    """1 / (1 + exp(-x))."""

    def forward(self, x: Tensor) -> Tensor:
        out = torch.sigmoid(x)
        self._cache = {"out": out}
        return out

    def backward(self, dout: Tensor) -> Tensor:
        out = self.saved("out")
        return dout * (1 - out) * out


class TanH(Layer):
    """Hyperbolic tangent."""

    def forward(self, x: Tensor) -> Tensor:
        out = torch.tanh(x)
        self._cache = {"out": out}
        return out

    def backward(self, dout: Tensor) -> Tensor:
        out = self.saved("out")
        return dout * (1 - out * out)
