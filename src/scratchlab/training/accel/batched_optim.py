"""torch.optim updates for N stacked models at once, each model with its own hyper-parameters.

torch.optim's formulas and order of operations, derived scalars in float64 as torch computes them;
a model whose `active` flag is False stays exactly as it is, state included. On a GPU, SGD without
dampening is one Triton kernel (`kernels.batched_sgd`) instead of four of torch's.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from scratchlab.errors import ConfigError
from scratchlab.kernels.support import checked, on_device, relative_difference, triton_module
from scratchlab.util.tensors import unflatten

KINDS = {torch.optim.SGD: "sgd", torch.optim.Adam: "adam", torch.optim.AdamW: "adamw",
         torch.optim.RMSprop: "rmsprop"}
_STATE = {"sgd": ("momentum_buffer",), "adam": ("exp_avg", "exp_avg_sq"),
          "adamw": ("exp_avg", "exp_avg_sq"), "rmsprop": ("square_avg",)}
_KEEP = {"sgd": "momentum", "adam": "beta2", "adamw": "beta2", "rmsprop": "alpha"}  # buffer decay
_UNSUPPORTED = ("maximize", "amsgrad", "centered")  # options that change the formula
ENV_OFF = "SCRATCHLAB_FUSED_SGD"  # set to 0 for torch's operations (no Triton kernel) on a GPU


def _kernels() -> Any:
    return triton_module("batched_sgd")


class BatchedOptimizer:
    """The update rule of N same-kind torch optimizers, applied to all models' parameters at once.

    Args:
        optimizers: one fresh optimizer per model, one group of its parameters in `shapes` order.
        flat: every model's trainable parameters as one row, `(N, sum of their sizes)`.
    """

    def __init__(self, optimizers: Sequence[torch.optim.Optimizer], flat: Tensor,
                 shapes: Sequence[tuple[int, ...]]) -> None:
        unknown = [type(o).__name__ for o in optimizers if type(o) not in KINDS]
        if unknown:
            names = ", ".join(sorted(c.__name__ for c in KINDS))
            raise ConfigError(f"the batched trainer cannot apply {unknown[0]}; use one of {names} "
                              "(torch.optim)")
        kinds = {KINDS[type(o)] for o in optimizers}
        if len(kinds) != 1:
            raise ConfigError("models trained together need the same optimizer, got "
                              f"{sorted(kinds)}")
        self.kind = kinds.pop()
        groups = [_single_group(o, len(shapes)) for o in optimizers]
        if len({bool(g.get("nesterov", False)) for g in groups}) != 1:
            raise ConfigError("models trained together need the same optimizer option "
                              "'nesterov', got both values")
        for key in _UNSUPPORTED:
            if any(g.get(key, False) for g in groups):
                raise ConfigError("the batched trainer does not support the optimizer option "
                                  f"{key}=True; turn it off")
        if self.kind == "rmsprop" and any(g["momentum"] for g in groups):
            raise ConfigError("the batched trainer supports RMSprop without momentum only")
        self.nesterov = bool(groups[0].get("nesterov", False))
        self.shapes = [tuple(s) for s in shapes]
        hyper = _hyper(self.kind, groups)
        self.any_decay = bool(hyper["weight_decay"].any())
        self.any_dampening = bool((hyper.get("one_minus_dampening", torch.ones(1)) != 1).any())
        self.hp = {name: t.to(flat.device) for name, t in hyper.items()}
        self.h = {name: t.to(flat.dtype) for name, t in self.hp.items()}
        self.steps = torch.zeros(len(optimizers), 1, dtype=torch.float64, device=flat.device)
        self.state = {name: torch.zeros_like(flat) for name in _STATE[self.kind]}
        self._update = {"sgd": self._sgd, "rmsprop": self._rmsprop}.get(self.kind, self._adam)
        self._active: Tensor | None = None
        self._cache: dict[str, Tensor] = {}

    @torch.no_grad()
    def step(self, flat: Tensor, grad: Tensor, active: Tensor) -> None:
        """Update every `active` model's `flat` in place from `grad`; the others stay exact.

        The factors are cached per `active` tensor object (the trainer passes one per epoch).
        """
        f = self._factors(active, flat.dtype)
        if self._fused_sgd(flat, grad):
            with on_device(flat.device):
                _kernels().sgd(flat, grad.contiguous(), self.state["momentum_buffer"], f["keep"],
                            f["a"], f["neg_lr"], self.h["momentum"], self.h["weight_decay"],
                            self.steps, f["a64"], self.nesterov, self.any_decay)
            return
        first = self.steps == 0 if self.any_dampening else None
        self.steps.add_(f["a64"])
        if self.any_decay and self.kind != "adamw":
            grad = grad.addcmul(flat, self.h["weight_decay"])
        self._update(flat, grad, f, first)

    def _fused_sgd(self, flat: Tensor, grad: Tensor) -> bool:
        """Whether the step is one Triton kernel: SGD without dampening on a GPU (float32)."""
        return (self.kind == "sgd" and not self.any_dampening and flat.is_cuda
                and flat.dtype == torch.float32 == grad.dtype and flat.is_contiguous()
                and flat.numel() < 2**31 and os.environ.get(ENV_OFF, "1") != "0"
                and _kernels() is not None
                and checked("the batched SGD step", flat.device, _check_sgd, 1e-5))

    def _factors(self, active: Tensor, dtype: torch.dtype) -> dict[str, Tensor]:
        if self._active is not active:
            a = active[:, None].to(dtype)
            ones = torch.ones_like(a)
            keep = _KEEP[self.kind]
            f = {"a": a, "a64": a.to(torch.float64), "keep": torch.lerp(ones, self.h[keep], a),
                 "neg_lr": -self.h["lr"] * a}
            if self.kind != "sgd":
                f["new_sq"] = self.h[f"one_minus_{keep}"] * a
            if self.kind in ("adam", "adamw"):
                f["new_avg"] = self.h["one_minus_beta1"] * a
                f["decay"] = torch.lerp(ones, self.h["decay_factor"], a)
            self._active, self._cache = active, f
        return self._cache

    def _sgd(self, p: Tensor, g: Tensor, f: dict[str, Tensor], first: Tensor | None) -> None:
        h, buf = self.h, self.state["momentum_buffer"]
        # with dampening, torch starts the buffer at the first gradient, undamped
        if first is not None:
            buf.lerp_(torch.where(first, g, buf * h["momentum"] + g * h["one_minus_dampening"]),
                      f["a"])
        else:  # buf * 1 + g * 0 keeps an inactive model's buffer exactly
            buf.mul_(f["keep"]).addcmul_(g, f["a"])
        step = g.addcmul(buf, h["momentum"]) if self.nesterov else buf
        p.addcmul_(step, f["neg_lr"])

    def _adam(self, p: Tensor, g: Tensor, f: dict[str, Tensor], first: Tensor | None) -> None:
        if self.kind == "adamw" and self.any_decay:
            p.mul_(f["decay"])
        m, v = self.state["exp_avg"], self.state["exp_avg_sq"]
        m.lerp_(g, f["new_avg"])
        v.mul_(f["keep"]).addcmul_(g, g * f["new_sq"])
        # a model that never stepped is inactive: keep its factors finite
        steps = self.steps.clamp_min(1)
        step_size = (self.hp["lr"] / (1 - self.hp["beta1"] ** steps)).to(p.dtype)
        bc2_sqrt = (1 - self.hp["beta2"] ** steps).sqrt().to(p.dtype)
        denom = v.sqrt().div_(bc2_sqrt).add_(self.h["eps"])
        p.addcmul_(m.div(denom), -step_size * f["a"])

    def _rmsprop(self, p: Tensor, g: Tensor, f: dict[str, Tensor], first: Tensor | None) -> None:
        sq = self.state["square_avg"]
        sq.mul_(f["keep"]).addcmul_(g, g * f["new_sq"])
        p.addcmul_(g.div(sq.sqrt().add_(self.h["eps"])), f["neg_lr"])

    def load_into(self, optimizer: torch.optim.Optimizer, index: int) -> None:
        """Fill model `index`'s own `optimizer` with its state, as torch.optim keeps it."""
        steps = float(self.steps[index])
        if steps == 0 or (self.kind == "sgd" and not optimizer.param_groups[0]["momentum"]):
            return
        views = {name: unflatten(buf[index], self.shapes) for name, buf in self.state.items()}
        for i, param in enumerate(optimizer.param_groups[0]["params"]):
            state = {name: v[i].to(param.device).clone() for name, v in views.items()}
            if self.kind != "sgd":
                state["step"] = torch.tensor(steps, dtype=torch.float32)
            optimizer.state[param] = state


def _single_group(optimizer: torch.optim.Optimizer, num_params: int) -> dict[str, Any]:
    if len(optimizer.param_groups) != 1:
        raise ConfigError("the batched trainer needs one parameter group per optimizer, got "
                          f"{len(optimizer.param_groups)}")
    group = optimizer.param_groups[0]
    if len(group["params"]) != num_params:
        raise ConfigError(f"each optimizer must hold the model's {num_params} trainable "
                          f"parameters, got {len(group['params'])}")
    if optimizer.state:
        raise ConfigError("the batched trainer starts from fresh optimizers; build new ones (no "
                          "loaded state)")
    return group


def _hyper(kind: str, groups: list[dict[str, Any]]) -> dict[str, Tensor]:
    """Per-model numbers of the update `(N, 1)`, in float64 (as torch derives them in Python)."""

    def column(key: str, index: int | None = None) -> Tensor:
        values = [float(g[key] if index is None else g[key][index]) for g in groups]
        return torch.tensor(values, dtype=torch.float64)[:, None]

    hp = {"lr": column("lr"), "weight_decay": column("weight_decay")}
    if kind == "sgd":
        return hp | {"momentum": column("momentum"), "one_minus_dampening": 1 - column("dampening")}
    if kind == "rmsprop":
        alpha = column("alpha")
        return hp | {"alpha": alpha, "one_minus_alpha": 1 - alpha, "eps": column("eps")}
    beta1, beta2 = column("betas", 0), column("betas", 1)
    return hp | {"beta1": beta1, "beta2": beta2, "one_minus_beta1": 1 - beta1,
                 "one_minus_beta2": 1 - beta2, "eps": column("eps"),
                 "decay_factor": 1 - hp["lr"] * hp["weight_decay"]}


def _check_sgd(device: torch.device) -> float:
    """The SGD kernel's largest relative difference to the update in float64 (two models, one
    inactive, weight decay, with and without Nesterov), step counts included."""
    kernels = _kernels()
    gen = torch.Generator().manual_seed(0)
    p, g, buf = (torch.randn(2, 1100, generator=gen, dtype=torch.float64) for _ in range(3))
    a, momentum, lr, wd = (torch.tensor(v, dtype=torch.float64)[:, None]
                           for v in ((1.0, 0.0), (0.9, 0.5), (0.1, 0.2), (0.01, 0.0)))
    keep = torch.lerp(torch.ones_like(a), momentum, a)
    worst = 0.0
    for nesterov in (False, True):
        grad = g + p * wd
        new_buf = buf * keep + grad * a
        new_p = p + (grad + new_buf * momentum if nesterov else new_buf) * (-lr * a)
        ours = [t.to(device, torch.float32, copy=True) for t in (p, g, buf)]
        steps = torch.zeros(2, 1, dtype=torch.float64, device=device)
        factors = [t.to(device, torch.float32) for t in (keep, a, -lr * a, momentum, wd)]
        kernels.sgd(*ours, *factors, steps, a.to(device), nesterov, True)
        worst = max(worst, relative_difference([ours[0], ours[2], steps], [new_p, new_buf, a]))
    return worst
