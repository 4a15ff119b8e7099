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
    """The kernel module `scratchlab.models.<name>`, or None where Triton is not installed."""
    if importlib.util.find_spec("triton") is None:
        return None
    return importlib.import_module(f"scratchlab.models.{name}")


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


def warm_kernels(model: torch.nn.Module, inputs: list[torch.Tensor], amp_dtype: torch.dtype | None,
                 seed: int = 0) -> None:
    """Train-mode forward and backward, then an eval-mode forward, of `model` on each of
    `inputs` (their shapes, dtypes and layouts; values drawn from a private generator), so that
    cuDNN's autotuning and Triton's compiles for those shapes are done before a run needs them.

    `model` is a throwaway: its weights and buffers are overwritten. The global random state is
    not used, so a run seeded before this draws the same numbers after it.
    """
    device = inputs[0].device
    generator = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0.0, 0.05, generator=generator)
        for name, buffer in model.named_buffers():
            buffer.fill_(1 if name.endswith("running_var") else 0)
    amp = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else contextlib.nullcontext()
    for example in inputs:
        x = torch.empty_like(example).normal_(generator=generator)
        model.train()
        with amp:
            scores = model(x)
        scores.float().square().mean().backward()
        model.eval()
        with torch.no_grad(), amp:
            model(x)
    model.zero_grad(set_to_none=True)
