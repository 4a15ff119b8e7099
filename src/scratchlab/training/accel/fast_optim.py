"""Optimizer, learning-rate schedule and weight averaging of the fast recipe (airbench's).

`lr` and `reg` are in the classic units (`fast_settings.from_airbench` converts airbench's).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from scratchlab.errors import ConfigError
from scratchlab.optim import CombinedOptimizer, FilterMuon
from scratchlab.training.accel.fast_settings import FastSettings


def sgd_param_groups(model: nn.Module, lr: float, reg: float, bias_lr_scale: float,
                     skip: Iterable[nn.Parameter] = (), whiten_bias_decay: bool = False
                     ) -> list[dict]:
    """torch SGD groups: BatchNorm parameters at `bias_lr_scale` x `lr`, the rest at `lr`.

    Every group decays by `lr * reg` per step, whatever its rate; frozen parameters and those in
    `skip` are left out. `whiten_bias_decay`: `model.whiten.bias` is a third group at the
    BatchNorm rate, marked `whiten_bias` (`set_lr` gives it its own factor).
    """
    norm_ids = {id(p) for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                for p in m.parameters(recurse=False)}
    own = [model.whiten.bias] if whiten_bias_decay and hasattr(model, "whiten") else []
    left_out = {id(p) for p in [*skip, *own]}
    trainable = [p for p in model.parameters() if p.requires_grad and id(p) not in left_out]
    norms = [p for p in trainable if id(p) in norm_ids]
    others = [p for p in trainable if id(p) not in norm_ids]
    bias_lr = lr * bias_lr_scale
    groups = [{"params": params, "lr": group_lr, "initial_lr": group_lr,
               "weight_decay": lr * reg / group_lr, "whiten_bias": params is own}
              for params, group_lr in ((norms, bias_lr), (others, lr), (own, bias_lr)) if params]
    if not groups:
        raise ConfigError("the model has no trainable parameters")
    return groups


def make_optim(model: nn.Module, lr: float, reg: float, momentum: float,
               s: FastSettings, fused: bool = False, tensor_lr: bool = False) -> Any:
    """SGD (Nesterov when `s.nesterov` and `momentum` > 0) over `sgd_param_groups`; with
    `s.filter_optimizer` muon, `FilterMuon` takes the trainable 4-d weights (conv filters)
    instead and the two step as one `CombinedOptimizer`. `tensor_lr`: every group's rate is a
    tensor where its parameters are (a CUDA graph can replay the step; `set_lr` fills it)."""
    muon = s.filter_optimizer == "muon"
    filters = [p for p in model.parameters() if p.requires_grad and p.dim() == 4] if muon else []
    groups = sgd_param_groups(model, lr, reg, s.bias_lr_scale, filters, s.whiten_bias_decay)
    sgd = torch.optim.SGD(groups, lr=groups[0]["lr"], momentum=momentum,
                          nesterov=s.nesterov and momentum > 0, fused=fused or None)
    optimizer = sgd if not muon else CombinedOptimizer(sgd, FilterMuon(
        [{"params": filters, "initial_lr": s.muon_lr}], lr=s.muon_lr, momentum=s.muon_momentum,
        nesterov=s.nesterov, ns_steps=s.muon_ns_steps, normalize_weights=True))
    for group in optimizer.param_groups if tensor_lr else []:
        group["lr"] = torch.tensor(float(group["lr"]), device=group["params"][0].device)
    return optimizer


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


def set_lr(optimizer: Any, factor: float, whiten_factor: float = 1.0) -> None:
    """Every group's rate = its `initial_lr` x `factor` (x `whiten_factor` for the group marked
    `whiten_bias`); plain floats, or tensors filled in place: no device sync."""
    for group in optimizer.param_groups:
        rate = group["initial_lr"] * (whiten_factor if group.get("whiten_bias") else factor)
        if isinstance(group["lr"], torch.Tensor):  # the same tensor, filled in place
            rate = group["lr"].fill_(rate)
        group["lr"] = rate


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
