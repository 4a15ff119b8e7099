"""Optimizer, learning-rate schedule and weight averaging of the fast recipe (airbench's).

`lr` and `reg` are in the classic units (`fast_settings.from_airbench` converts airbench's).
"""

from __future__ import annotations

import torch
from torch import nn

from scratchlab.errors import ConfigError


def sgd_param_groups(model: nn.Module, lr: float, reg: float, bias_lr_scale: float) -> list[dict]:
    """torch SGD groups: BatchNorm parameters at `bias_lr_scale` x `lr`, the rest at `lr`.

    Every group decays by `lr * reg` per step, whatever its rate; frozen parameters are left out.
    """
    norm_ids = {id(p) for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                for p in m.parameters(recurse=False)}
    trainable = [p for p in model.parameters() if p.requires_grad]
    norms = [p for p in trainable if id(p) in norm_ids]
    others = [p for p in trainable if id(p) not in norm_ids]
    groups = []
    for params, group_lr in ((norms, lr * bias_lr_scale), (others, lr)):
        if params:
            groups.append({"params": params, "lr": group_lr, "initial_lr": group_lr,
                           "weight_decay": lr * reg / group_lr})
    if not groups:
        raise ConfigError("the model has no trainable parameters")
    return groups


def build_sgd(model: nn.Module, lr: float, reg: float, momentum: float, nesterov: bool,
              bias_lr_scale: float, fused: bool = False) -> torch.optim.SGD:
    """SGD (Nesterov when `nesterov` and `momentum` > 0) over `sgd_param_groups`."""
    groups = sgd_param_groups(model, lr, reg, bias_lr_scale)
    return torch.optim.SGD(groups, lr=groups[0]["lr"], momentum=momentum,
                           nesterov=nesterov and momentum > 0, fused=fused or None)


def lr_factor(step: int, total: int, start: float, peak: float, end: float) -> float:
    """Piecewise linear: `start` at step 0, 1 at step `int(peak * total)`, `end` at `total`."""
    if total <= 0:
        return 1.0
    top = int(peak * total)
    if step <= top:
        return 1.0 if top == 0 else start + (1 - start) * step / top
    if top >= total:
        return 1.0
    return 1 + (end - 1) * (min(step, total) - top) / (total - top)


def set_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Every group's rate = its `initial_lr` x `factor` (plain floats: no device sync)."""
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] * factor


def ema_decay(step: int, total: int, decay: float, every: int, power: float = 3.0) -> float:
    """airbench's averaging weight `decay**every * (step/total)**power`, from 0 up over training."""
    return decay**every * (min(step / total, 1.0) if total > 0 else 1.0) ** power


class Lookahead:
    """An EMA of a model's float state (BatchNorm statistics too), copied back into the model.

    `update(d)`: average <- d * average + (1 - d) * weights, then weights <- average.
    """

    def __init__(self, model: nn.Module) -> None:
        self.tensors = [t for t in model.state_dict().values() if t.is_floating_point()]
        self.average = [t.detach().clone() for t in self.tensors]

    @torch.no_grad()
    def update(self, decay: float) -> None:
        if decay < 1.0:
            torch._foreach_lerp_(self.average, self.tensors, 1.0 - decay)
        torch._foreach_copy_(self.tensors, self.average)
