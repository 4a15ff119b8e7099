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
    models inactive, stopped, with early stopping or without, a loss that is not finite; and
    models whose gain is below `min_delta` or exactly nil (`_edges`). Its history is the first
    rows of `state.guarded`, whose last row no epoch may write."""
    g = torch.Generator().manual_seed(seed)
    n = models

    def pick(*values: Any, dtype: torch.dtype | None = None) -> Tensor:
        return torch.tensor(values, dtype=dtype)[torch.randint(len(values), (n,), generator=g)]

    guarded = torch.full((6, n, train_batches + test_batches + 2), torch.nan)
    state = SimpleNamespace(
        models=SimpleNamespace(flat=torch.randn(n, params, generator=g)),
        epoch=torch.tensor(2), train_seen=1024, test_seen=256,  # accuracies exact in binary
        diverged=pick(False, False, True), stopped=pick(False, False, True),
        epochs_done=torch.randint(0, 3, (n,), generator=g), best_acc=pick(-torch.inf, 30.0, 60.0,
                                                                         dtype=torch.float64),
        es_on=pick(True, True, False), es_patience=torch.randint(1, 4, (n,), generator=g),
        es_delta=pick(0.0, 1e-3, 0.5, dtype=torch.float64),
        es_sign=pick(1.0, -1.0, dtype=torch.float64), es_monitor=torch.arange(n) % 4,
        es_best=pick(torch.inf, 0.9, -40.0, dtype=torch.float64),
        es_best_epoch=torch.randint(0, 3, (n,), generator=g),
        es_bad=torch.randint(0, 3, (n,), generator=g), guarded=guarded, history=guarded[:5],
        best=torch.randn(n, params, generator=g) if keep_best else None)
    train_losses = torch.rand(n, train_batches, generator=g) * 2
    test_losses = torch.rand(n, test_batches, generator=g) * 2
    train_losses[1, 5] = torch.nan
    test_losses[2, -1] = torch.inf
    results = (pick(True, True, False), train_losses, torch.randint(0, 1025, (n,), generator=g),
               test_losses, torch.randint(0, 257, (n,), generator=g))
    _edges(state, results)
    moved = {k: (v.to(device) if isinstance(v, Tensor) else v) for k, v in vars(state).items()}
    moved["models"] = SimpleNamespace(flat=state.models.flat.to(device))
    moved["history"] = moved["guarded"][:5]
    return SimpleNamespace(**moved), tuple(t.to(device) for t in results)


def _edges(state: SimpleNamespace, results: tuple[Tensor, ...]) -> None:
    """Active watched models at the edges of the rules: a gain of a quarter of `min_delta` 0.5
    (models 0, 2, 5 of every 8: no improvement), an accuracy equal to the best seen (models 1 and
    3 of every 8: no improvement; every fifth model: no better accuracy)."""
    from scratchlab.training.accel.batched_program import monitored  # (it imports this)

    active, *scores = results
    test_acc, value = monitored(state, *scores)  # type: ignore[arg-type]
    for i in range(len(active)):
        if i % 8 in (0, 2, 5):
            state.es_delta[i], state.es_best[i] = 0.5, value[i] + 0.125
        elif i % 8 in (1, 3):  # accuracy monitors: exact values
            state.es_delta[i], state.es_best[i] = 0.0, value[i]
        if i % 8 in (0, 1, 2, 3, 5):
            active[i], state.es_on[i], state.stopped[i] = True, True, False
        if i % 5 == 0:
            active[i], state.best_acc[i] = True, test_acc[i]


def compare(device: torch.device | str, keep_best: bool, seed: int, end_epoch: Any,
            reference: Any) -> float:
    """The largest difference between the states `end_epoch(state, *results)` and
    `reference(state, *results)` leave from the same `example`; infinite where either wrote past
    the history."""
    theirs, results = example(device, keep_best, seed)
    reference(theirs, *results)
    ours, results = example(device, keep_best, seed)
    end_epoch(ours, *results)
    if not bool(ours.guarded[5].isnan().all()):
        return float("inf")
    return largest_difference(state_tensors(ours), state_tensors(theirs))


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
