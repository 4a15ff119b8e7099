"""What the Triton kernels share: loading them, the tensors they take, and (for the kernels of
the batched trainer) a check of their numbers against torch's before their first use."""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import warnings
from collections.abc import Callable
from typing import Any

import torch

_CHECKED: dict[tuple[str, int], bool] = {}  # (kernel group, device index) -> its check passed


@functools.cache
def triton_module(name: str) -> Any:
    """The kernel module `scratchlab.kernels.<name>`, or None where Triton is not installed."""
    if importlib.util.find_spec("triton") is None:
        return None
    return importlib.import_module(f"scratchlab.kernels.{name}")


def on_device(device: torch.device) -> contextlib.AbstractContextManager:
    """`device` made current for a launch (Triton launches on the current CUDA device)."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()


def flat_shape(shape: torch.Size) -> torch.Size:
    """A convolution weight's `(C_out, C_in / groups, k, k)`; N models' stacked weights `(N, out,
    in, k, k)` taken as one (output channel `i * out + o` is model i's channel o)."""
    return torch.Size((shape[0] * shape[1], *shape[2:])) if len(shape) == 5 else shape


def each_model_contiguous(t: torch.Tensor) -> torch.Tensor:
    """N models' stacked `t` `(N, ...)` as the kernels read it in place: each model's part
    contiguous (views of one row per model, as the batched trainer holds them), the models
    `t.stride(0)` apart; a contiguous copy only where a model's part is not contiguous."""
    return t if t.shape[0] > 0 and t[0].is_contiguous() else t.contiguous()


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


def checked(name: str, device: torch.device, check: Callable[[torch.device], float],
            tolerance: float) -> bool:
    """Whether the kernels `name` give torch's numbers on `device`: `check(device)` (the largest
    relative difference on a small example) runs once per process and device. Where it raises or
    exceeds `tolerance` (a Triton or GPU the kernels were not tried on), one warning says so and
    the caller leaves the work to torch. False, checking again at the next call, while a CUDA
    graph is captured (in this thread, or in another one whose capture the check ran into)."""
    key = (name, device.index or 0)
    if key not in _CHECKED:
        if device.type == "cuda" and torch.cuda.is_current_stream_capturing():
            return False
        try:
            with torch.inference_mode(False), torch.enable_grad():
                error = check(device)
            passed, reason = error < tolerance, f"differ from torch's by {error:.1e}"
        except Exception as exc:  # a compilation or launch failure: torch does the work
            if "captur" in str(exc).lower():  # another thread's CUDA graph capture: check later
                return False
            passed, reason = False, f"failed ({type(exc).__name__}: {exc})"[:300]
        if not passed:
            warnings.warn(f"the Triton kernels of {name} {reason}; torch's operations are used "
                          "instead", RuntimeWarning, stacklevel=2)
        _CHECKED[key] = passed
    return _CHECKED[key]


def relative_difference(ours: list[torch.Tensor], reference: list[torch.Tensor]) -> float:
    """The largest relative difference between two lists of tensors (each against its own
    largest reference value)."""
    pairs = [(a.detach().double().cpu(), r.detach().double().cpu())
             for a, r in zip(ours, reference, strict=True)]
    return max(float((a - r).abs().max() / r.abs().max().clamp_min(1e-30)) for a, r in pairs)
