"""Whether an epoch of the batched trainer ends in one Triton kernel, and the check of its numbers.

`EpochProgram._end_epoch_torch` (torch's operations) is the definition; on a GPU with Triton the
same work is one launch (`kernels.epoch_end`) instead of about fifty, once its results were found
equal to the torch version's on a random example (`kernels.support.checked`).
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import Tensor

from scratchlab.kernels.support import checked, on_device, triton_module
from scratchlab.training.accel.batched_epoch_end_example import compare

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


def _check(device: torch.device) -> float:
    from scratchlab.training.accel.batched_program import EpochProgram

    return max(compare(device, keep, 0, end_epoch, EpochProgram._end_epoch_torch)
               for keep in (False, True))
