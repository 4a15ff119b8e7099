"""`CombinedOptimizer`: several torch optimizers over disjoint parameters, stepped as one."""

from __future__ import annotations

from typing import Any

import torch

from scratchlab.errors import CheckpointError


class CombinedOptimizer:
    """Steps, zeroes, saves and loads its optimizers together (e.g. Muon on the conv filters and
    SGD on the rest). `param_groups` lists every optimizer's groups in order, so a learning-rate
    schedule that sets `group["lr"]` reaches them all.
    """

    def __init__(self, *optimizers: torch.optim.Optimizer) -> None:
        self.optimizers = optimizers

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return [group for optimizer in self.optimizers for group in optimizer.param_groups]

    def step(self) -> None:
        for optimizer in self.optimizers:
            optimizer.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return {"optimizers": [optimizer.state_dict() for optimizer in self.optimizers]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state.get("optimizers")
        if not isinstance(saved, list) or len(saved) != len(self.optimizers):
            raise CheckpointError(f"optimizer state does not match these {len(self.optimizers)} "
                                  "combined optimizers; load a state saved from the same setup")
        for optimizer, part in zip(self.optimizers, saved, strict=True):
            optimizer.load_state_dict(part)

    def __repr__(self) -> str:
        return f"CombinedOptimizer({', '.join(type(o).__name__ for o in self.optimizers)})"
