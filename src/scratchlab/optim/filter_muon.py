"""`FilterMuon`: Muon as a `torch.optim.Optimizer` for weight matrices and conv filter banks.

The rule is that of `scratchlab.optim.Muon` (muon.py), for parameters of 2 or more dims, each
seen as a matrix of rows = shape[0] by cols = the product of the other dims:

    b <- mu * b + (1 - mu) * g               (g: gradient + weight_decay * W)
    u = (1 - mu) * g + mu * b  (nesterov)  or  b
    W <- W * sqrt(rows) / |W|_F              (only with `normalize_weights`)
    W <- W - lr * sqrt(max(1, rows / cols)) * NS(u)

What it adds: every matrix of one shape is orthogonalised in one batched Newton-Schulz
iteration (a few batched matmuls per shape, not per parameter), in bfloat16 on CUDA by default;
`normalize_weights` keeps each filter bank at Frobenius norm sqrt(rows), so only its direction
learns (airbench94_muon). A step never reads a value back to the host, so it can be captured in a
CUDA graph (each group's `lr` a plain float, or a device tensor that is set in place).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from scratchlab.errors import ConfigError
from scratchlab.optim.muon import QUINTIC, check_settings, newton_schulz


class FilterMuon(torch.optim.Optimizer):
    """Muon over torch parameters of 2 or more dims (see the module docstring).

    Args:
        params: parameters or param groups (every tensor with 2 or more dims).
        lr: step size: the singular values of an update are about `lr` (times the tall-matrix
            factor sqrt(max(1, rows / cols))).
        momentum: mu, the fraction of the averaged gradient buffer kept per step.
        nesterov: step along the Nesterov blend of gradient and buffer.
        ns_steps, coefficients: the Newton-Schulz iteration (`optim.muon.newton_schulz`).
        weight_decay: L2 coefficient added to the gradient (as torch.optim.SGD).
        normalize_weights: rescale each weight to Frobenius norm sqrt(rows) before each step.
        ns_bf16: iterate in bfloat16 (None: on CUDA, else in the parameters' dtype).
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 0.02,
                 momentum: float = 0.95, nesterov: bool = True, ns_steps: int = 5,
                 coefficients: tuple[float, float, float] = QUINTIC, weight_decay: float = 0.0,
                 normalize_weights: bool = False, ns_bf16: bool | None = None) -> None:
        check_settings(momentum, ns_steps, coefficients)
        if not (math.isfinite(lr) and lr >= 0 and math.isfinite(weight_decay)
                and weight_decay >= 0):
            raise ConfigError(f"lr and weight_decay must be finite and >= 0, got {lr}, "
                              f"{weight_decay}")
        defaults = {"lr": lr, "momentum": momentum, "nesterov": bool(nesterov),
                    "ns_steps": int(ns_steps), "coefficients": tuple(map(float, coefficients)),
                    "weight_decay": weight_decay, "normalize_weights": bool(normalize_weights),
                    "ns_bf16": ns_bf16}
        params = list(params)
        if not params:
            raise ConfigError("FilterMuon got no parameters; pass the conv filters or matrices")
        super().__init__(params, defaults)
        flat = [p for group in self.param_groups for p in group["params"]]
        if any(p.ndim < 2 for p in flat):
            raise ConfigError("FilterMuon steps matrices and filter banks (2 or more dims); give "
                              "biases and norms to another optimizer")

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """One update of every parameter that has a gradient; returns `closure()` if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            by_shape: dict[torch.Size, list[Tensor]] = defaultdict(list)
            for param in group["params"]:
                if param.grad is not None:
                    by_shape[param.shape].append(param)
            for params in by_shape.values():
                self._update(group, params)
        return loss

    def _update(self, group: dict[str, Any], params: list[Tensor]) -> None:
        """The step of `params`, all of one shape: one batched Newton-Schulz for all of them."""
        grads = [p.grad for p in params]
        if group["weight_decay"]:
            grads = torch._foreach_add(grads, params, alpha=group["weight_decay"])
        for p in params:
            if "momentum_buffer" not in self.state[p]:
                self.state[p]["momentum_buffer"] = torch.zeros_like(p)
        buffers = [self.state[p]["momentum_buffer"] for p in params]
        mu = group["momentum"]
        torch._foreach_lerp_(buffers, grads, 1 - mu)
        steps = torch._foreach_lerp(grads, buffers, mu) if group["nesterov"] else buffers
        rows = params[0].shape[0]
        matrices = torch.stack(steps).reshape(len(params), rows, -1)
        bf16 = group["ns_bf16"] if group["ns_bf16"] is not None else matrices.is_cuda
        ortho = newton_schulz(matrices, group["ns_steps"], group["coefficients"],
                              dtype=torch.bfloat16 if bf16 else None)
        weights = torch.stack(params)
        if group["normalize_weights"]:
            norms = weights.flatten(1).norm(dim=1).clamp_min(torch.finfo(weights.dtype).tiny)
            weights = weights * (math.sqrt(rows) / norms).view(-1, *[1] * params[0].ndim)
        scale = math.sqrt(max(1.0, rows / matrices.shape[-1]))
        update = ortho.reshape(weights.shape).to(weights.dtype)
        if isinstance(group["lr"], Tensor):  # set in place between steps (a CUDA graph replays)
            weights = weights - update * (group["lr"] * scale).to(weights.dtype)
        else:
            weights = weights.add(update, alpha=-group["lr"] * scale)
        torch._foreach_copy_(params, list(weights.unbind(0)))
