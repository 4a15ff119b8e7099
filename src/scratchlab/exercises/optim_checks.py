"""Checks of the optimizers' update rules and of gradient descent with a decaying step size.

Each optimizer is run against a direct transcription of its rule (written here, from the
formulas), against `torch.optim` where the two rules agree (a constant learning rate), and on a
small quadratic. Parameters move by about the learning rate per step; a difference is measured
relative to how far the rule moved them, with a tolerance (1e-5) that does not depend on where
eps sits in RMSProp and Adam (the gradients are kept away from zero, so eps is negligible).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from scratchlab.exercises.checklib import F64, Check, CheckFailed, Namespace, seeded

REL_TOL = 1e-5
STEPS = 5
Rule = Callable[[Tensor, Tensor, dict[str, Tensor], int], Tensor]


@dataclass(frozen=True)
class Spec:
    """An optimizer of the library, its rule, and the torch.optim optimizer that agrees with it."""

    cls: str
    kwargs: dict[str, Any]
    rule: Rule
    formula: str
    torch_optim: Callable[[list[Tensor]], torch.optim.Optimizer]
    quadratic_lr: float


LR, REG = 0.05, 0.01


def _sgd(p: Tensor, g: Tensor, s: dict[str, Tensor], t: int) -> Tensor:
    return p - LR * g


def _momentum(p: Tensor, g: Tensor, s: dict[str, Tensor], t: int) -> Tensor:
    s["v"] = 0.8 * s.get("v", torch.zeros_like(p)) - LR * g
    return p + s["v"]


def _rmsprop(p: Tensor, g: Tensor, s: dict[str, Tensor], t: int) -> Tensor:
    s["r"] = 0.9 * s.get("r", torch.zeros_like(p)) + 0.1 * g * g
    return p - LR * g / (torch.sqrt(s["r"]) + 1e-8)


def _adam(p: Tensor, g: Tensor, s: dict[str, Tensor], t: int) -> Tensor:
    s["m"] = 0.8 * s.get("m", torch.zeros_like(p)) + 0.2 * g
    s["v"] = 0.9 * s.get("v", torch.zeros_like(p)) + 0.1 * g * g
    m_hat, v_hat = s["m"] / (1 - 0.8**t), s["v"] / (1 - 0.9**t)
    return p - LR * m_hat / (torch.sqrt(v_hat) + 1e-8)


SPECS = {
    "VanillaSGD": Spec(
        "VanillaSGD",
        {},
        _sgd,
        "theta <- theta - lr g",
        lambda ps: torch.optim.SGD(ps, lr=LR, weight_decay=REG),
        0.1,
    ),
    "MomentumSGD": Spec(
        "MomentumSGD",
        {"momentum": 0.8},
        _momentum,
        "v <- mu v - lr g; theta <- theta + v",
        lambda ps: torch.optim.SGD(ps, lr=LR, momentum=0.8, weight_decay=REG),
        0.05,
    ),
    "RMSProp": Spec(
        "RMSProp",
        {"decay": 0.9, "eps": 1e-8},
        _rmsprop,
        "r <- decay r + (1 - decay) g^2; theta <- theta - lr g / sqrt(r)",
        lambda ps: torch.optim.RMSprop(ps, lr=LR, alpha=0.9, eps=1e-8, weight_decay=REG),
        0.01,
    ),
    "Adam": Spec(
        "Adam",
        {"betas": (0.8, 0.9), "eps": 1e-8},
        _adam,
        "m, v <- moving averages of g, g^2; theta <- theta - lr m_hat / sqrt(v_hat)",
        lambda ps: torch.optim.Adam(ps, lr=LR, betas=(0.8, 0.9), eps=1e-8, weight_decay=REG),
        0.05,
    ),
}


def _problem() -> tuple[list[Tensor], list[list[Tensor]]]:
    """Two float64 parameters and STEPS steps of their gradients, of size 0.5 to 1.5."""
    gen = seeded()
    shapes = [(3, 4), (5,)]
    params = [torch.randn(s, generator=gen, dtype=F64) for s in shapes]

    def grad(shape: tuple[int, ...]) -> Tensor:
        size = 0.5 + torch.rand(shape, generator=gen, dtype=F64)
        return torch.where(torch.rand(shape, generator=gen, dtype=F64) < 0.5, -size, size)

    return params, [[grad(s) for s in shapes] for _ in range(STEPS)]


def _compare(
    what: str, formula: str, got: list[Tensor], want: list[Tensor], start: list[Tensor]
) -> None:
    for i, (mine, ref, first) in enumerate(zip(got, want, start, strict=True)):
        moved = float(torch.linalg.vector_norm(ref - first))
        diff = float(torch.linalg.vector_norm(mine - ref)) / max(moved, 1e-300)
        if not diff <= REL_TOL:
            raise CheckFailed(
                f"{what}: parameter {i} differs from {formula} by {diff:.3g} times the distance "
                "it should have moved"
            )


def _follows_rule(spec: Spec, ns: Namespace) -> None:
    start, grads = _problem()
    params = [p.clone() for p in start]
    holders = [torch.zeros_like(p) for p in params]
    optimizer = ns[spec.cls](
        list(zip(params, holders, strict=True)), learn_rate=LR, reg=REG, **spec.kwargs
    )
    expected, state = [p.clone() for p in start], [{} for _ in start]
    for t, step_grads in enumerate(grads, start=1):
        for holder, g in zip(holders, step_grads, strict=True):
            holder.copy_(g)
        optimizer.step()
        expected = [
            spec.rule(p, g + REG * p, s, t)
            for p, g, s in zip(expected, step_grads, state, strict=True)
        ]
        rule = f"the rule {spec.formula} (g = grad + reg theta)"
        _compare(f"{spec.cls} after step {t}", rule, params, expected, start)


def _agrees_with_torch(spec: Spec, ns: Namespace) -> None:
    start, grads = _problem()
    ours = [p.clone().requires_grad_(True) for p in start]
    theirs = [p.clone().requires_grad_(True) for p in start]
    optimizer = ns[spec.cls](ours, learn_rate=LR, reg=REG, **spec.kwargs)
    reference = spec.torch_optim(theirs)
    for t, step_grads in enumerate(grads, start=1):
        for a, b, g in zip(ours, theirs, step_grads, strict=True):
            a.grad, b.grad = g.clone(), g.clone()
        optimizer.step()
        reference.step()
        name = type(reference).__name__
        _compare(
            f"{spec.cls} on torch parameters after step {t}",
            f"torch.optim.{name}",
            [p.detach() for p in ours],
            [p.detach() for p in theirs],
            start,
        )


def _quadratic(spec: Spec, ns: Namespace) -> None:
    gen = seeded()
    a = torch.eye(10, dtype=F64) + 0.3 * torch.randn(10, 10, generator=gen, dtype=F64) / 10**0.5
    b = torch.randn(10, generator=gen, dtype=F64)
    theta, grad = torch.zeros(10, dtype=F64), torch.zeros(10, dtype=F64)
    optimizer = ns[spec.cls]([(theta, grad)], learn_rate=spec.quadratic_lr, **spec.kwargs)

    def loss() -> float:
        return 0.5 * float(((a @ theta - b) ** 2).sum())

    first = loss()
    for _ in range(300):
        grad.copy_(a.T @ (a @ theta - b))
        optimizer.step()
    if not loss() <= 1e-3 * first:
        raise CheckFailed(
            f"{spec.cls}(learn_rate={spec.quadratic_lr}) took a quadratic loss from {first:.3g} "
            f"to {loss():.3g} in 300 steps (expected below {1e-3 * first:.3g})"
        )


def _skips_missing_grad(ns: Namespace) -> None:
    a, b = torch.ones(3, requires_grad=True), torch.ones(2, requires_grad=True)
    a.grad = torch.ones(3)
    ns["VanillaSGD"]([a, b], learn_rate=0.5).step()
    if not (torch.equal(b.detach(), torch.ones(2)) and torch.allclose(a.detach(), 0.5 * a.grad)):
        raise CheckFailed(
            "VanillaSGD over torch parameters: a parameter whose .grad is None must be left alone "
            "and the others stepped by -lr * .grad"
        )


def optimizer_checks(cls: str) -> tuple[Check, ...]:
    spec = SPECS[cls]
    checks = (
        Check(f"{cls} follows its update rule, with L2 (reg)", lambda ns: _follows_rule(spec, ns)),
        Check(f"{cls} agrees with torch.optim", lambda ns: _agrees_with_torch(spec, ns)),
        Check(f"{cls} minimises a quadratic", lambda ns: _quadratic(spec, ns)),
    )
    if cls == "VanillaSGD":
        checks += (Check("VanillaSGD skips a torch parameter without .grad", _skips_missing_grad),)
    return checks


def _descent_rule(
    descend: Any, lr0: float, steps: int, decay: float, start: tuple[float, float]
) -> np.ndarray:
    """The path of p_t = p_(t-1) - lr0 decay^(t-1) grad_f(p_(t-1)), stopped as `descend` says."""
    grad_f, radius = descend.__globals__["grad_f"], descend.__globals__["DIVERGED"]
    path = np.full((steps + 1, 2), np.nan)
    path[0] = point = np.array(start, dtype=float)
    for t in range(1, steps + 1):
        point = point - lr0 * decay ** (t - 1) * grad_f(point)
        if not np.isfinite(point).all() or float(np.linalg.norm(point)) > radius:
            break
        path[t] = point
    return path


def _descent(
    lr0: float, steps: int, decay: float, start: tuple[float, float], ns: Namespace
) -> None:
    descend = ns["descend"]
    got = np.asarray(descend(lr0, steps, decay=decay, start=start), dtype=float)
    want = _descent_rule(descend, lr0, steps, decay, start)
    call = f"descend({lr0}, {steps}, decay={decay}, start={start})"
    if got.shape != want.shape:
        raise CheckFailed(f"{call} has shape {got.shape}, expected {want.shape}")
    if not np.allclose(got, want, rtol=1e-9, atol=1e-9, equal_nan=True):
        bad = int(np.argwhere(~np.isclose(got, want, rtol=1e-9, atol=1e-9, equal_nan=True))[0][0])
        raise CheckFailed(
            f"{call}: point {bad} is {got[bad].tolist()}, the rule p_t = p_(t-1) - "
            f"lr0 decay^(t-1) grad f gives {want[bad].tolist()}"
        )


GRADIENT_DESCENT = (
    Check(
        "descend with a constant step follows p <- p - lr grad f",
        lambda ns: _descent(0.1, 60, 1.0, (3.0, 2.0), ns),
    ),
    Check(
        "descend with a decaying step uses lr0 decay^t at step t",
        lambda ns: _descent(0.3, 80, 0.95, (-1.0, 1.5), ns),
    ),
    Check(
        "descend stops (the rest NaN) once the point leaves the ball",
        lambda ns: _descent(1.0, 20, 1.0, (3.0, 2.0), ns),
    ),
)
