"""The two Triton kernels of `models.fast_pool.MaxPool2x2` (imported on first use on a GPU).

Both walk the output of a 2x2, stride-2 max pool over a channels-last (N, H, W, C) tensor in
memory order, so neighbouring threads read neighbouring channels. The forward pass writes the
maximum and its window position (0..3, one byte); the backward pass writes all four input
gradients of each window, the output gradient at that position and zero elsewhere.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from scratchlab.kernels.support import on_device

BLOCK = 1024


@triton.jit
def _window(total, C, H, W, Ho, Wo, BLOCK: tl.constexpr):
    """This program's output offsets, their mask, and the input offset of the top-left element
    of each one's window."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    c = offs % C
    pixel = offs // C
    row = pixel // Wo  # n * Ho + ho
    start = ((row // Ho * H + 2 * (row % Ho)) * W + 2 * (pixel % Wo)) * C + c
    return offs, offs < total, start


@triton.jit
def _later(best, arg, value, position: tl.constexpr):
    """The maximum and its position after the window element `value` at `position`, by torch's
    rule: a later element replaces the maximum when it is larger or NaN."""
    take = (value > best) | (value != value)
    return tl.where(take, value, best), tl.where(take, position, arg).to(tl.int8)


# C stays specialised (a multiple of 16 lets loads vectorise); sizes do not, so that one
# compilation per dtype serves every layer
@triton.jit(do_not_specialize=["total", "H", "W", "Ho", "Wo"])
def _forward(x_ptr, out_ptr, arg_ptr, total, C, H, W, Ho, Wo, BLOCK: tl.constexpr):
    offs, mask, start = _window(total, C, H, W, Ho, Wo, BLOCK)
    best = tl.load(x_ptr + start, mask=mask)
    arg = tl.zeros([BLOCK], dtype=tl.int8)
    best, arg = _later(best, arg, tl.load(x_ptr + start + C, mask=mask), 1)
    best, arg = _later(best, arg, tl.load(x_ptr + start + W * C, mask=mask), 2)
    best, arg = _later(best, arg, tl.load(x_ptr + start + W * C + C, mask=mask), 3)
    tl.store(out_ptr + offs, best, mask=mask)
    tl.store(arg_ptr + offs, arg, mask=mask)


@triton.jit(do_not_specialize=["total", "H", "W", "Ho", "Wo"])
def _backward(grad_ptr, arg_ptr, grad_in_ptr, total, C, H, W, Ho, Wo, BLOCK: tl.constexpr):
    offs, mask, start = _window(total, C, H, W, Ho, Wo, BLOCK)
    grad = tl.load(grad_ptr + offs, mask=mask)
    arg = tl.load(arg_ptr + offs, mask=mask)
    zero = tl.zeros_like(grad)
    tl.store(grad_in_ptr + start, tl.where(arg == 0, grad, zero), mask=mask)
    tl.store(grad_in_ptr + start + C, tl.where(arg == 1, grad, zero), mask=mask)
    tl.store(grad_in_ptr + start + W * C, tl.where(arg == 2, grad, zero), mask=mask)
    tl.store(grad_in_ptr + start + W * C + C, tl.where(arg == 3, grad, zero), mask=mask)


def pool_forward(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(pooled, window positions) of a channels-last (N, C, H, W) CUDA tensor (floor mode: an odd
    last row or column is left out)."""
    n, c, h, w = x.shape
    out = torch.empty((n, c, h // 2, w // 2), dtype=x.dtype, device=x.device,
                      memory_format=torch.channels_last)
    arg = torch.empty((n, h // 2, w // 2, c), dtype=torch.int8, device=x.device)
    total = out.numel()
    with on_device(x.device):
        _forward[(triton.cdiv(total, BLOCK),)](x, out, arg, total, c, h, w, h // 2, w // 2,
                                               BLOCK=BLOCK)
    return out, arg


def pool_backward(grad: torch.Tensor, arg: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """The input gradient (channels-last, `shape`) of the output gradient `grad`."""
    _, c, h, w = shape
    grad = grad.contiguous(memory_format=torch.channels_last)
    grad_in = torch.empty(shape, dtype=grad.dtype, device=grad.device,
                          memory_format=torch.channels_last)
    grad_in[:, :, h // 2 * 2 :].zero_()  # an odd last row and column are in no window
    grad_in[:, :, :, w // 2 * 2 :].zero_()
    total = grad.numel()
    with on_device(grad.device):
        _backward[(triton.cdiv(total, BLOCK),)](grad, arg, grad_in, total, c, h, w, h // 2,
                                                w // 2, BLOCK=BLOCK)
    return grad_in
