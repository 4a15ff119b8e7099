"""torch.optim updates for N stacked models at once, each model with its own hyper-parameters.

torch.optim's formulas and order of operations, derived scalars in float64 as torch computes them;
a model whose `active` flag is False stays exactly as it is, state included.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from scratchlab.errors import ConfigError

KINDS = {torch.optim.SGD: "sgd", torch.optim.Adam: "adam", torch.optim.AdamW: "adamw",
         torch.optim.RMSprop: "rmsprop"}
# Options that must be the same for every model (they change the formula, not a number in it).
_STRUCTURAL = {"sgd": ("nesterov", "maximize"), "adam": ("amsgrad", "maximize"),
               "adamw": ("amsgrad", "maximize"),
               "rmsprop": ("centered", "maximize")}
_UNSUPPORTED = {"maximize": True, "amsgrad": True, "centered": True}


def optimizer_kind(optimizer: Any) -> str:
    """`sgd`, `adam`, `adamw` or `rmsprop`; a ConfigError for any other optimizer."""
    kind = KINDS.get(type(optimizer))
    if kind is None:
        names = ", ".join(sorted(c.__name__ for c in KINDS))
        raise ConfigError(f"the batched trainer cannot apply {type(optimizer).__name__}; use one "
                          f"of {names} (torch.optim)")
    return kind


class BatchedOptimizer:
    """The update rule of N same-kind torch optimizers, applied to all models' parameters at once.

    Args:
        optimizers: one fresh optimizer per model, one group of its parameters in `shapes` order.
        flat: every model's trainable parameters as one row, `(N, sum of their sizes)`.
    """

    def __init__(self, optimizers: Sequence[torch.optim.Optimizer], flat: Tensor,
                 shapes: Sequence[tuple[int, ...]]) -> None:
        kinds = {optimizer_kind(o) for o in optimizers}
        if len(kinds) != 1:
            raise ConfigError("models trained together need the same optimizer, got "
                              f"{sorted(kinds)}")
        self.kind = kinds.pop()
        groups = [_single_group(o, len(shapes)) for o in optimizers]
        for key in _STRUCTURAL[self.kind]:
            values = {bool(g.get(key, False)) for g in groups}
            if len(values) != 1:
                raise ConfigError("models trained together need the same optimizer option "
                                  f"{key!r}, got both values")
            if values.pop() and _UNSUPPORTED.get(key):
                raise ConfigError("the batched trainer does not support the optimizer option "
                                  f"{key}=True; turn it off")
        if self.kind == "rmsprop" and any(g["momentum"] for g in groups):
            raise ConfigError("the batched trainer supports RMSprop without momentum only")
        self.nesterov = bool(groups[0].get("nesterov", False))
        self.shapes = [tuple(s) for s in shapes]
        hyper = _hyper(self.kind, groups)
        self.hp = {name: torch.tensor(v, dtype=torch.float64, device=flat.device)[:, None] for name,
                   v in hyper.items()}
        self.h = {name: t.to(flat.dtype) for name, t in self.hp.items()}
        self.steps = torch.zeros(len(optimizers), 1, dtype=torch.float64, device=flat.device)
        self.state = {name: torch.zeros_like(flat) for name in _STATE[self.kind]}
        self.any_decay = any(w != 0 for w in hyper["weight_decay"])
        self.any_dampening = any(d != 1 for d in hyper.get("one_minus_dampening", [1.0]))
        self._active: Tensor | None = None
        self._cache: dict[str, Tensor] = {}

    @torch.no_grad()
    def step(self, flat: Tensor, grad: Tensor, active: Tensor) -> None:
        """Update every `active` model's `flat` in place from `grad`; the others stay exact.

        The factors are cached per `active` tensor object (the trainer passes one per epoch).
        """
        f = self._factors(active, flat.dtype)
        first = self.steps == 0 if self.any_dampening else None
        self.steps.add_(f["a64"])
        if self.any_decay and self.kind != "adamw":
            grad = grad.addcmul(flat, self.h["weight_decay"])
        {"sgd": self._sgd, "adam": self._adam, "adamw": self._adam,
         "rmsprop": self._rmsprop}[self.kind](flat, grad, f, first)

    def _factors(self, active: Tensor, dtype: torch.dtype) -> dict[str, Tensor]:
        if self._active is not active:
            a = active[:, None].to(dtype)
            ones = torch.ones_like(a)
            keep = {"sgd": "momentum", "adam": "beta2", "adamw": "beta2",
                    "rmsprop": "alpha"}[self.kind]
            self._cache = {"a": a, "a64": a.to(torch.float64),
                           "keep": torch.lerp(ones, self.h[keep], a),
                           "neg_lr": -self.h["lr"] * a}
            if self.kind in ("adam", "adamw", "rmsprop"):
                name = "one_minus_alpha" if self.kind == "rmsprop" else "one_minus_beta2"
                self._cache["new_sq"] = self.h[name] * a
            if self.kind in ("adam", "adamw"):
                self._cache["new_avg"] = self.h["one_minus_beta1"] * a
                self._cache["decay"] = torch.lerp(ones, self.h["decay_factor"], a)
            self._active = active
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
        offset = 0
        for param, shape in zip(optimizer.param_groups[0]["params"], self.shapes, strict=True):
            size = math.prod(shape)
            state = {name: buf[index, offset: offset + size].reshape(shape).to(param.device).clone()
                     for name, buf in self.state.items()}
            if self.kind != "sgd":
                state["step"] = torch.tensor(steps, dtype=torch.float32)
            optimizer.state[param] = state
            offset += size


_STATE = {"sgd": ("momentum_buffer",), "adam": ("exp_avg", "exp_avg_sq"),
          "adamw": ("exp_avg", "exp_avg_sq"),
          "rmsprop": ("square_avg",)}


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


def _hyper(kind: str, groups: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Per-model numbers of the update, derived in float64 as torch does in Python."""
    lr = [float(g["lr"]) for g in groups]
    wd = [float(g["weight_decay"]) for g in groups]
    if kind == "sgd":
        return {"lr": lr, "weight_decay": wd, "momentum": [float(g["momentum"]) for g in groups],
                "one_minus_dampening": [1 - float(g["dampening"]) for g in groups]}
    if kind == "rmsprop":
        alpha = [float(g["alpha"]) for g in groups]
        return {"lr": lr, "weight_decay": wd, "alpha": alpha,
                "one_minus_alpha": [1 - a for a in alpha],
                "eps": [float(g["eps"]) for g in groups]}
    b1 = [float(g["betas"][0]) for g in groups]
    b2 = [float(g["betas"][1]) for g in groups]
    return {"lr": lr, "weight_decay": wd, "beta1": b1, "beta2": b2,
            "one_minus_beta1": [1 - b for b in b1],
            "one_minus_beta2": [1 - b for b in b2], "eps": [float(g["eps"]) for g in groups],
            "decay_factor": [1 - r * w for r, w in zip(lr, wd, strict=True)]}


