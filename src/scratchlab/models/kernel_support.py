"""What the Triton kernels of `fast_pool` and `fast_norm` share: loading them, and the tensors
they take."""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
from typing import Any

import torch


@functools.cache
def triton_module(name: str) -> Any:
    """The kernel module `scratchlab.models.<name>` (or `scratchlab.<name>` for a dotted name),
    or None where Triton is not installed."""
    if importlib.util.find_spec("triton") is None:
        return None
    return importlib.import_module(f"scratchlab.{name}" if "." in name else
                                   f"scratchlab.models.{name}")


def on_device(device: torch.device) -> contextlib.AbstractContextManager:
    """`device` made current for a launch (Triton launches on the current CUDA device)."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()


def channels_last_cuda(x: torch.Tensor) -> bool:
    """Whether `x` is a 4-d, channels-last CUDA tensor of 1 to 2**31 - 1 elements seen outside
    torch.compile and vmap: the tensors the kernels take."""
    if not (x.is_cuda and x.dim() == 4 and 0 < x.numel() < 2**31
            and not torch.compiler.is_compiling()):
        return False
    try:
        return x.is_contiguous(memory_format=torch.channels_last)
    except RuntimeError:  # a tensor that cannot say (inside torch.func.vmap)
        return False
