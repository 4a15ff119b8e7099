"""Muon: momentum whose step is orthogonalised by a Newton-Schulz iteration.

For a weight matrix W (a conv filter bank counts as a matrix of shape out x (in * k * k)):

    b <- mu * b + (1 - mu) * g           (momentum buffer: an average of the gradients)
    u = (1 - mu) * g + mu * b  (nesterov)  or  b
    O = NS(u)                            (about U V^T, where u = U S V^T)
    W <- W - lr * sqrt(max(1, rows / cols)) * O

NS normalises u by its Frobenius norm, then applies X <- a X + b (X X^T) X + c (X X^T)^2 X a
few times. Each application maps every singular value s to p(s) = a s + b s^3 + c s^5 and keeps
the singular vectors, so O = U p^k(S / |u|_F) V^T. The default quintic coefficients
(3.4445, -4.7750, 2.0315) trade exactness for speed: after 5 steps every singular value that was
at least 0.003 of the Frobenius norm lies in [0.68, 1.21], not at 1. The cubic (1.5, -0.5, 0)
converges to U V^T exactly, slowly. Parameters with fewer than 2 dimensions (biases, norms)
take the momentum step W <- W - lr * u (u is on the gradients' scale, as b is an average).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from scratchlab.errors import ConfigError
from scratchlab.optim.base import Optimizer, ParamsLike, _check_range

QUINTIC = (3.4445, -4.7750, 2.0315)
CUBIC = (1.5, -0.5, 0.0)


def newton_schulz(matrix: Tensor, steps: int = 5,
                  coefficients: tuple[float, float, float] = QUINTIC,
                  eps: float = 1e-7, dtype: torch.dtype | None = None) -> Tensor:
    """The Newton-Schulz orthogonalisation of a matrix, or of every matrix of a stack
    (..., rows, cols) at once (batched matmuls); the result has the input's shape.

    Each matrix is normalised by its own Frobenius norm, then iterated in `dtype` (default: the
    input's; the result has it too).
    """
    if matrix.ndim < 2:
        raise ValueError(f"newton_schulz needs a matrix, got shape {tuple(matrix.shape)}")
    a, b, c = coefficients
    x = (matrix / (matrix.norm(dim=(-2, -1), keepdim=True) + eps)).to(dtype or matrix.dtype)
    tall = x.shape[-2] > x.shape[-1]
    if tall:  # iterate on the smaller Gram matrix
        x = x.mT
    for _ in range(steps):
        gram = x @ x.mT
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.mT if tall else x


def check_settings(momentum: float, ns_steps: int, coefficients: tuple[float, ...]) -> None:
    """A ConfigError unless 0 <= momentum < 1, 1 <= ns_steps < 100 and 3 finite coefficients."""
    _check_range("momentum", momentum, 0.0, 1.0)
    _check_range("ns_steps", ns_steps, 1, 100)
    if len(coefficients) != 3 or not all(math.isfinite(float(c)) for c in coefficients):
        raise ConfigError(f"coefficients must be 3 finite numbers (a, b, c), got "
                          f"{coefficients!r}")


class Muon(Optimizer):
    """Muon (see the module docstring); `reg` adds reg * W to the gradient as elsewhere here.

    Not in torch.optim. Args: momentum mu, `nesterov`, `ns_steps` and `coefficients` of the
    Newton-Schulz iteration.
    """

    state_names = ("momentum_buffer",)

    def __init__(self, params: ParamsLike, learn_rate: float = 0.02, reg: float = 0.0,
                 momentum: float = 0.95, nesterov: bool = True, ns_steps: int = 5,
                 coefficients: tuple[float, float, float] = QUINTIC) -> None:
        check_settings(momentum, ns_steps, coefficients)
        super().__init__(params, learn_rate, reg)
        self.momentum, self.nesterov, self.ns_steps = momentum, bool(nesterov), int(ns_steps)
        self.coefficients = tuple(float(c) for c in coefficients)

    def update(self, i: int, param: Tensor, grad: Tensor) -> None:
        buffer = self.state["momentum_buffer"][i]
        buffer.lerp_(grad, 1 - self.momentum)
        step = grad.lerp(buffer, self.momentum) if self.nesterov else buffer
        if param.ndim < 2:
            param.add_(step, alpha=-self.learn_rate)
            return
        matrix = step.reshape(param.shape[0], -1)
        rows, cols = matrix.shape
        ortho = newton_schulz(matrix, self.ns_steps, self.coefficients)
        scale = math.sqrt(max(1.0, rows / cols))
        param.add_(ortho.reshape(param.shape).to(param.dtype), alpha=-self.learn_rate * scale)

    def hyperparams(self) -> dict[str, object]:
        return {"momentum": self.momentum, "nesterov": self.nesterov, "ns_steps": self.ns_steps,
                "coefficients": self.coefficients}


@torch.no_grad()
def polar_factor(matrix: Tensor) -> Tensor:
    """U V^T of the SVD `matrix` = U S V^T: the orthogonal matrix nearest to it."""
    u, _, vh = torch.linalg.svd(matrix, full_matrices=False)
    return u @ vh
