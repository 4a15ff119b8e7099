"""What a check is, and the comparisons that the checks of every part share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from scratchlab import scratch

AUTOGRAD_TOL = 1e-8  # float64 norm of (backward - autograd); a correct backward is ~1e-15
FD_TOL = 1e-5  # the library's own bar for finite_difference_check
F64 = torch.float64


class CheckFailed(Exception):
    """A check's verdict: what differs, in one line."""


class Namespace:
    """The objects a part's checks test, by name (a student's module or the library's)."""

    def __init__(self, objects: Mapping[str, Any], where: str) -> None:
        self.objects, self.where = objects, where

    def __getitem__(self, name: str) -> Any:
        if name not in self.objects:
            raise CheckFailed(f"{self.where} defines no {name}")
        return self.objects[name]


@dataclass(frozen=True)
class Check:
    """One named check of a part; `run(ns)` returns quietly or raises (`CheckFailed` or else)."""

    name: str
    run: Callable[[Namespace], None]


def tensor(what: str, value: Any) -> Tensor:
    """`value` if it is a tensor, else a failure naming what returned it."""
    if not isinstance(value, Tensor):
        raise CheckFailed(f"{what} returned {type(value).__name__}, not a tensor")
    return value


def assert_close(
    what: str, got: Any, want: Tensor, reference: str, rtol: float = 1e-7, atol: float = 1e-10
) -> None:
    """Fail unless `got` has `want`'s shape and values, saying by how much it differs."""
    got = tensor(what, got)
    if tuple(got.shape) != tuple(want.shape):
        raise CheckFailed(f"{what} has shape {tuple(got.shape)}, expected {tuple(want.shape)}")
    got, want = got.detach().to(F64), want.detach().to(F64)
    if not torch.isfinite(got).all() and torch.isfinite(want).all():
        raise CheckFailed(f"{what} has NaN or infinite values where {reference} is finite")
    if not torch.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True):
        diff = float((got - want).abs().nan_to_num(float("inf")).max())
        raise CheckFailed(f"{what} differs from {reference} by {diff:.3g} (largest difference)")


def param_names(layer: Any) -> list[str]:
    """Names of `layer.params()` in order: own gradients, then the children's, dotted."""
    own = list(getattr(layer, "grads", {}))
    return own + [
        f"{child_name}.{name}"
        for child_name, child in layer.children()
        for name in param_names(child)
    ]


def autograd_check(what: str, layer: Any, x: Tensor, y: Tensor | None = None) -> None:
    """`scratch.compare_to_autograd` in float64: every gradient within `AUTOGRAD_TOL`."""
    diffs = scratch.compare_to_autograd(layer, x, y)
    names = ["input", *param_names(layer)]
    for name, diff in zip(names, diffs, strict=False):
        if not diff <= AUTOGRAD_TOL:
            label = "the input gradient" if name == "input" else f"the gradient of {name}"
            raise CheckFailed(
                f"{what}: {label} differs from autograd by {diff:.3g} (norm of the difference)"
            )


def finite_difference(what: str, layer: Any, x: Tensor, y: Tensor | None = None) -> None:
    """`scratch.finite_difference_check`: relative error within `FD_TOL`."""
    error = scratch.finite_difference_check(layer, x, y, samples=12)
    if not error <= FD_TOL:
        raise CheckFailed(
            f"{what}: backward differs from central finite differences (relative error "
            f"{error:.3g}, allowed {FD_TOL:g})"
        )


def grads_accumulate(what: str, layer: Any, x: Tensor) -> None:
    """Two backward passes add into the same gradient tensors (which optimizers hold)."""
    layer.zero_grad()
    held = [grad for _, grad in layer.params()]
    out = layer(x)
    dout = torch.randn_like(tensor(f"{what} forward", out))
    layer.backward(dout)
    once = [grad.clone() for grad in held]
    layer(x)
    layer.backward(dout)
    for name, grad, first, (_, now) in zip(
        param_names(layer), held, once, layer.params(), strict=True
    ):
        if now is not grad:
            raise CheckFailed(
                f"{what}: layer.grads[{name!r}] was replaced; add into it in place "
                "(an optimizer holds that tensor)"
            )
        if not torch.allclose(grad, 2 * first, rtol=1e-9, atol=1e-12):
            raise CheckFailed(
                f"{what}: two backward passes do not add up in layer.grads[{name!r}]; "
                "add the gradient into it (+=), do not overwrite it"
            )


def seeded(seed: int = 0) -> torch.Generator:
    """Seed torch's global RNG and return a generator of the same seed for the inputs."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, gen: torch.Generator, scale: float = 1.0) -> Tensor:
    """A float64 standard normal tensor."""
    return torch.randn(*shape, generator=gen, dtype=F64) * scale
