"""Whether an epoch of the batched trainer ends in one Triton kernel, and the check of its numbers.

`EpochProgram._end_epoch_torch` (torch's operations) is the definition; on a GPU with Triton the
same work is one launch (`kernels.epoch_end`) instead of about fifty, once its results were found
equal to the torch version's on a random example (`kernels.support.checked`).
"""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

import torch
from torch import Tensor

from scratchlab.kernels.support import checked, on_device, triton_module

ENV_OFF = "SCRATCHLAB_FUSED_EPOCH_END"  # set to 0 for torch's operations on a GPU
TOLERANCE = 1e-12  # largest difference of any number at the check (the losses' float64 means)
MAX_KEPT_PARAMS = 2**16  # one program copies a model's best weights: larger models keep torch's


def _kernels() -> Any:
    return triton_module("epoch_end")


def applies(program: Any, train_losses: Tensor, test_losses: Tensor) -> bool:
    """Whether `program`'s epoch may end in the kernel: float32 losses and weights on a GPU (with
    best weights kept, at most `MAX_KEPT_PARAMS` per model)."""
    flat = program.models.flat
    return (flat.is_cuda and (program.best is None or flat.shape[1] <= MAX_KEPT_PARAMS)
            and flat.dtype == torch.float32 == program.history.dtype
            and train_losses.dtype == torch.float32 == test_losses.dtype
            and flat.is_contiguous() and program.history.is_contiguous()
            and os.environ.get(ENV_OFF, "1") != "0" and _kernels() is not None
            and checked("the batched epoch end", flat.device, _check, TOLERANCE))


def end_epoch(program: Any, active: Tensor, train_losses: Tensor, train_correct: Tensor,
              test_losses: Tensor, test_correct: Tensor) -> None:
    """`program._end_epoch`'s work in one launch, `program.epoch` advanced after it."""
    with on_device(program.models.flat.device):
        _kernels().end_epoch(program, active.contiguous(), train_losses.contiguous(),
                             train_correct.contiguous(), test_losses.contiguous(),
                             test_correct.contiguous())
    program.epoch += 1


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


def _check(device: torch.device) -> float:
    from scratchlab.training.accel.batched_program import EpochProgram

    worst = 0.0
    for keep_best in (False, True):
        reference, results = example(device, keep_best)
        with torch.no_grad():
            EpochProgram._end_epoch_torch(reference, *results)  # type: ignore[arg-type]
        ours, results = example(device, keep_best)
        end_epoch(ours, *results)
        worst = max(worst, largest_difference(state_tensors(ours), state_tensors(reference)))
    return worst
