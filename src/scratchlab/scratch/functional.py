"""A network as plain functions over (w, b, activation) triples, for notebook-style use.

params = [(*he_init(64, 32), "relu"), (*he_init(32, 10), None)]
scores = network(x, params)              # x @ w + b, then the activation, layer after layer
dx, grads = network_backward(x, params, dscores)   # the same gradients autograd would give
params = [make_layer(64, 32, relu), make_layer(32, 1, sigmoid)]   # the Radboud A1 form
p = network(x, params)                   # shape (N,): one output unit is squeezed, as in A1
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from scratchlab.errors import ConfigError

Activation = Callable[[Tensor], Tensor] | str | None
Triple = tuple[Tensor, Tensor, Activation]


def identity(x: Tensor) -> Tensor:
    """x unchanged."""
    return x


def relu(x: Tensor) -> Tensor:
    """max(x, 0)."""
    return torch.where(x > 0, x, 0.0)


def leaky_relu(x: Tensor, alpha: float = 0.01) -> Tensor:
    """x for x > 0, alpha * x otherwise."""
    return torch.where(x > 0, x, alpha * x)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + exp(-x))."""
    return torch.sigmoid(x)


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent."""
    return torch.tanh(x)


FUNCTIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "identity": identity,
    "relu": relu,
    "lrelu": leaky_relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
}

# d activation / d z, from the pre-activation z and the output a.
DERIVATIVES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "identity": lambda z, a: torch.ones_like(z),
    "relu": lambda z, a: (z > 0).to(z.dtype),
    "lrelu": lambda z, a: torch.where(z > 0, 1.0, 0.01).to(z.dtype),
    "sigmoid": lambda z, a: a * (1 - a),
    "tanh": lambda z, a: 1 - a * a,
}


def _name(activation: Activation) -> str | None:
    if activation is None:
        return "identity"
    if isinstance(activation, str):
        if activation not in FUNCTIONS:
            raise ConfigError(
                f"unknown activation {activation!r}; choose one of {sorted(FUNCTIONS)}"
            )
        return activation
    return next((name for name, fn in FUNCTIONS.items() if fn is activation), None)


def activation_fn(activation: Activation) -> Callable[[Tensor], Tensor]:
    """The function for a name, a callable or None (identity)."""
    name = _name(activation)
    return FUNCTIONS[name] if name is not None else activation  # type: ignore[return-value]


def network(x: Tensor, params: Sequence[Triple]) -> Tensor:
    """Apply activation(x @ w + b) for each (w, b, activation) in turn.

    Inputs (N, d_in) give outputs (N, d_out); with one output unit the result is (N,), as in
    the Radboud A1 seed.
    """
    out = functools.reduce(lambda h, p: activation_fn(p[2])(h @ p[0] + p[1]), params, x)
    return out[:, 0] if out.ndim == 2 and out.shape[1] == 1 else out


def he_init(
    d_in: int, d_out: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """He initialisation: w (d_in, d_out) ~ N(0, 2 / d_in), b = 0."""
    w = torch.randn(d_in, d_out, generator=generator) * math.sqrt(2 / d_in)
    return w, torch.zeros(d_out)


def make_layer(
    d0: int, d1: int, activation: Activation, generator: torch.Generator | None = None
) -> Triple:
    """One layer `(w, b, activation)` as the Radboud A1 seed makes it: float64, `b` zero.

    The seed takes the He scale from the layer's output size, epsilon = sqrt(2 / d1), and draws
    `w` (d0, d1) from N(0, epsilon ** 2), so the standard deviation is 2 / d1. `he_init` instead
    uses the standard deviation sqrt(2 / d_in) (He et al.) in float32; use it outside the seed.
    """
    epsilon = math.sqrt(2 / d1)
    w = torch.randn(d0, d1, generator=generator, dtype=torch.float64) * epsilon**2
    return w, torch.zeros(d1, dtype=torch.float64), activation


def network_backward(
    x: Tensor, params: Sequence[Triple], dout: Tensor
) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
    """Gradients of sum(dout * network(x, params)): (dx, [(dw, db) per layer]), by hand.

    Activations must be named (or be one of this module's functions) so their derivative is known.
    For one output unit `dout` may be (N,), the shape `network` returns.
    """
    names = [_name(act) for _, _, act in params]
    if None in names:
        raise ConfigError(
            f"network_backward needs activations from {sorted(FUNCTIONS)}, got a custom callable"
        )
    if dout.ndim == 1 and params and params[-1][0].shape[1] == 1:
        dout = dout[:, None]
    saved = []
    h = x
    for (w, b, _), name in zip(params, names, strict=True):
        z = h @ w + b
        saved.append((h, z, FUNCTIONS[name](z)))  # type: ignore[index]
        h = saved[-1][2]
    grads = []
    for (w, _, _), name, (h_in, z, a) in reversed(list(zip(params, names, saved, strict=True))):
        dz = dout * DERIVATIVES[name](z, a)  # type: ignore[index]
        grads.append((h_in.T @ dz, dz.sum(dim=0)))
        dout = dz @ w.T
    return dout, grads[::-1]
