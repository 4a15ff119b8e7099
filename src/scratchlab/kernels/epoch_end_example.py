"""A random end-of-epoch state of the batched trainer, to check `kernels.epoch_end` against the
torch version (`EpochProgram._end_epoch_torch`) before its first use and in the tests."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch
from torch import Tensor


def example(device: torch.device | str, keep_best: bool, seed: int = 0, models: int = 24,
            train_batches: int = 300, test_batches: int = 3, params: int = 600
            ) -> tuple[SimpleNamespace, tuple[Tensor, ...]]:
    """An epoch program's state at its third epoch and one epoch's results, random: each monitor,
    models inactive, stopped, with early stopping or without, and a loss that is not finite."""
    g = torch.Generator().manual_seed(seed)
    n = models

    def pick(*values: Any, dtype: torch.dtype | None = None) -> Tensor:
        return torch.tensor(values, dtype=dtype)[torch.randint(len(values), (n,), generator=g)]

    state = SimpleNamespace(
        models=SimpleNamespace(flat=torch.randn(n, params, generator=g)),
        epoch=torch.tensor(2), train_seen=train_batches * 64 - 17, test_seen=test_batches * 100,
        diverged=pick(False, False, True), stopped=pick(False, False, True),
        epochs_done=torch.randint(0, 3, (n,), generator=g), best_acc=pick(-torch.inf, 30.0, 60.0,
                                                                         dtype=torch.float64),
        es_on=pick(True, True, False), es_patience=torch.randint(1, 4, (n,), generator=g),
        es_delta=pick(0.0, 1e-3, 0.5, dtype=torch.float64),
        es_sign=pick(1.0, -1.0, dtype=torch.float64), es_monitor=torch.arange(n) % 4,
        es_best=pick(torch.inf, 0.9, -40.0, dtype=torch.float64),
        es_best_epoch=torch.randint(0, 3, (n,), generator=g),
        es_bad=torch.randint(0, 3, (n,), generator=g),
        history=torch.full((5, n, train_batches + test_batches + 2), torch.nan),
        best=torch.randn(n, params, generator=g) if keep_best else None)
    train_losses = torch.rand(n, train_batches, generator=g) * 2
    test_losses = torch.rand(n, test_batches, generator=g) * 2
    train_losses[1, 5] = torch.nan
    test_losses[2, -1] = torch.inf
    results = (pick(True, True, False), train_losses,
               torch.randint(0, train_batches * 64 - 17, (n,), generator=g), test_losses,
               torch.randint(0, test_batches * 100, (n,), generator=g))
    moved = {k: (v.to(device) if isinstance(v, Tensor) else v) for k, v in vars(state).items()}
    moved["models"] = SimpleNamespace(flat=state.models.flat.to(device))
    return SimpleNamespace(**moved), tuple(t.to(device) for t in results)


def state_tensors(state: SimpleNamespace) -> list[Tensor]:
    """Every tensor an epoch's end may change, in one order."""
    names = ("epoch", "diverged", "stopped", "epochs_done", "best_acc", "es_best",
             "es_best_epoch", "es_bad", "history")
    kept = [state.best] if state.best is not None else []
    return [getattr(state, name) for name in names] + kept


def largest_difference(ours: list[Tensor], theirs: list[Tensor]) -> float:
    """The largest absolute difference between two states' tensors (NaNs equal where both are)."""
    worst = 0.0
    for a, b in zip(ours, theirs, strict=True):
        a, b = a.double().cpu(), b.double().cpu()
        if not torch.equal(a.isnan(), b.isnan()):
            return float("inf")
        same = ~a.isnan()
        both_inf = a.isinf() & (a == b)
        gap = (a - b)[same & ~both_inf].abs()
        worst = max(worst, float(gap.max()) if gap.numel() else 0.0)
    return worst
