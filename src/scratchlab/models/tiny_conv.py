"""A convolution of many tiny groups (the stacked models of `models.stacked`), optionally with the
ReLU and a 2x2 pool after it, through Triton kernels on a GPU.

For groups of a few channels and small filters (the inductive-bias study's 1 to 6 channels of
7x7) cuDNN's grouped convolution runs a generic algorithm with layout transforms around it, and
the reflect padding, the ReLU and the pool are kernels of their own, forward and backward.
`tiny_conv2d` does the forward pass in one kernel (padding, convolution, bias, ReLU, pool), the
input gradient in two and the weight and bias gradients in one or two (`kernels.tiny_conv`). Its
values are those of `F.conv2d` (then `F.relu`, `F.max_pool2d` or `F.avg_pool2d`) up to float32
round-off (the taps are summed in another order); a max pool's ties and NaNs go as in torch's
(the first maximum of a window, row by row, NaN wins). Elsewhere (CPU, no Triton, a layer it
does not cover) it is torch's operations.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from scratchlab.kernels.support import (
    checked,
    each_model_contiguous,
    flat_shape,
    on_device,
    relative_difference,
    triton_module,
)

MAX_TAPS = 1024  # largest channels x taps of a group (per output pixel) the kernels take
# weight-gradient programs wanted (16 per SM of an H100; more batch shares), or $ENV_PROGRAMS
ENV_PROGRAMS = "SCRATCHLAB_TINY_CONV_PROGRAMS"
_WANTED = os.environ.get(ENV_PROGRAMS, "").strip()
MIN_PROGRAMS = int(_WANTED) if _WANTED.isdecimal() and int(_WANTED) > 0 else 2112  # else ignored
# 0: F.conv2d everywhere; all: the kernels for every layer they fit; anything else (auto): where
# they pay off (case and spaces aside)
ENV_OFF = "SCRATCHLAB_TINY_CONV"
# Where the kernels beat cuDNN's grouped convolution, layer by layer (bench/stacked_conv.py, 15
# models, one H100, 2026-12-07 07:45 UTC) and network by network (bench/group_alone.py, 08:07 UTC).
# In a training step (forward and backward) on small maps: 3 channels a group on 14x14 maps took
# 0.78 times cuDNN's time, where 28x28 maps or 6 channels took 1.1-1.6 times as long; on 28x28
# maps only a first layer (one input channel a group) with its pool fused, which alone took 1.25
# times cuDNN's time but made whole SimpleCNN steps faster (a group of 10: 1.35 s against 1.0 s).
# In a forward pass alone only with the 2x2 pool fused: 0.59-0.78 times cuDNN's time for 1 to 6
# channels a group (the pool a kernel fewer), 1.1-1.7 times without it.
TRAIN_GROUP = 3  # most channels a group, in or out, of a training step's kernels
TRAIN_MAP = 14 * 14  # most pixels of its input maps, unless a first layer with its pool
FORWARD_GROUP = 6  # most channels a group of a forward pass alone, with its pool
CHECK_TOLERANCE = 1e-4  # largest relative difference to torch's float64 numbers at the check


def _kernels() -> Any:
    return triton_module("tiny_conv")


def padding_of(layer: nn.Conv2d) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) padding of `layer`, or None where it is not a plain one."""
    if layer.padding_mode not in ("zeros", "reflect"):
        return None
    if layer.padding_mode == "reflect":
        left, right, top, bottom = layer._reversed_padding_repeated_twice
        return top, bottom, left, right
    if isinstance(layer.padding, str):
        if layer.padding == "valid":
            return 0, 0, 0, 0
        k_h, k_w = layer.kernel_size  # "same" at stride 1, dilation 1: as torch splits it
        return (k_h - 1) // 2, k_h - 1 - (k_h - 1) // 2, (k_w - 1) // 2, k_w - 1 - (k_w - 1) // 2
    p_h, p_w = layer.padding
    return p_h, p_h, p_w, p_w


def geometry_fits(layer: nn.Conv2d, x_shape: torch.Size, weight_shape: torch.Size,
                  groups: int, pool: str | None = None) -> bool:
    """Whether the kernels take `layer` on an input of `x_shape` with a weight of
    `weight_shape` (then a 2x2 `pool`): a geometry torch takes too (else torch's operations
    raise torch's error), filters of at most `MAX_TAPS` taps a group, every index within 32
    bits."""
    pads = padding_of(layer)
    if (len(x_shape) != 4 or len(weight_shape) != 4 or pads is None
            or layer.stride != (1, 1) or layer.dilation != (1, 1)
            or x_shape[1] != groups * weight_shape[1] or weight_shape[0] % groups != 0):
        return False
    b, c_in, h, w = x_shape
    c_out, cin_g, k_h, k_w = weight_shape
    h_pad, w_pad = h + pads[0] + pads[1], w + pads[2] + pads[3]
    reflect_fits = layer.padding_mode != "reflect" or (max(pads[:2]) < h and max(pads[2:]) < w)
    smallest = 2 if pool else 1  # the convolution's output size torch's pool needs
    return (reflect_fits and k_h == k_w and min(h_pad - k_h, w_pad - k_w) + 1 >= smallest
            and b * c_in * h * w > 0
            and b * max(c_in, c_out) * h_pad * w_pad < 2**31
            and cin_g * k_h * k_w <= MAX_TAPS and c_out // groups * k_h * k_w <= MAX_TAPS)


def pays_off(x_shape: torch.Size, weight_shape: torch.Size, groups: int,
             pool: str | None = None, training: bool = True) -> bool:
    """Whether the kernels were measured faster than cuDNN for such a layer (see
    `TRAIN_GROUP`): in a `training` step (gradients to come) few channels a group on small
    maps, or a first layer with its pool; in a forward pass alone a pool fused after it."""
    channels = max(weight_shape[1], weight_shape[0] // groups)
    if training:
        small = x_shape[-2] * x_shape[-1] <= TRAIN_MAP
        first = weight_shape[1] == 1 and pool is not None
        return channels <= TRAIN_GROUP and (small or first)
    return pool is not None and channels <= FORWARD_GROUP


def wants_gradients(*tensors: torch.Tensor | None) -> bool:
    """Whether a pass on `tensors` is a training step's: gradients on, and one of them asks."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def kernel_applies(layer: nn.Conv2d, x: torch.Tensor, weight: torch.Tensor, groups: int,
                   bias: torch.Tensor | None = None, pool: str | None = None) -> bool:
    """Whether `tiny_conv2d` runs the Triton kernels for `layer` on `x` with `weight` and
    `bias` (then a 2x2 `pool`): where they fit and pay off (`ENV_OFF`)."""
    policy = os.environ.get(ENV_OFF, "auto").strip().lower()
    training = wants_gradients(x, weight, bias)
    shape = flat_shape(weight.shape)
    return (x.is_cuda and x.dtype == torch.float32 == weight.dtype and x.is_contiguous()
            and (bias is None or (bias.dtype == x.dtype
                                  and bias.shape == weight.shape[: weight.dim() - 3]))
            and geometry_fits(layer, x.shape, shape, groups, pool)
            and (policy == "all" or pays_off(x.shape, shape, groups, pool, training))
            and not torch.compiler.is_compiling()
            and policy != "0" and _kernels() is not None
            and checked("tiny_conv", x.device, _check, CHECK_TOLERANCE))


POOLS = {"max": 1, "avg": 2}  # the 2x2, stride-2 pools the forward kernel can apply after it


def pool_kind(module: nn.Module) -> str | None:
    """"max" or "avg" for a plain 2x2, stride-2 pool `module` (no padding, no ceil mode, no
    dilation or divisor), else None."""
    plain = (getattr(module, "kernel_size", None) in (2, (2, 2))
             and module.stride in (2, (2, 2)) and module.padding in (0, (0, 0))
             and not module.ceil_mode)
    if isinstance(module, nn.MaxPool2d) and plain and module.dilation in (1, (1, 1)):
        return "max" if not module.return_indices else None
    if isinstance(module, nn.AvgPool2d) and plain and module.divisor_override is None:
        return "avg"
    return None


def tiny_conv2d(layer: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor | None,
                x: torch.Tensor, groups: int, relu: bool = False,
                pool: str | None = None) -> torch.Tensor:
    """`layer`'s convolution of `x` with `weight` `(C_out, C_in / groups, k, k)` in `groups`
    groups (then a ReLU with `relu`, then a 2x2, stride-2 pool with `pool` "max" or "avg"), as
    `F.conv2d` (`F.relu`, `F.max_pool2d` or `F.avg_pool2d`) give it after the layer's padding.
    `weight` may also be N models' stacked weights `(N, out, in, k, k)` with biases `(N, out)`,
    output channel `i * out + o` being model i's channel o: the kernels read them in place where
    each model's own are contiguous (views of one row per model, as the batched trainer holds
    them), saving a copy of each per step."""
    stacked = weight.dim() == 5
    if not kernel_applies(layer, x, weight, groups, bias, pool):
        if stacked:  # torch's convolution takes the N models' weights as one
            weight = weight.reshape(flat_shape(weight.shape))
            bias = None if bias is None else bias.reshape(-1)
        return _torch_conv(layer, weight, bias, x, groups, relu, pool)
    readable = each_model_contiguous if stacked else torch.Tensor.contiguous
    return _TinyConv.apply(x, readable(weight), None if bias is None else readable(bias), groups,
                           padding_of(layer), layer.padding_mode == "reflect", relu,
                           POOLS[pool] if pool else 0)


def _torch_conv(layer: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor | None,
                x: torch.Tensor, groups: int, relu: bool, pool: str | None) -> torch.Tensor:
    """What `tiny_conv2d` computes, by torch's operations."""
    padding = layer.padding
    if layer.padding_mode != "zeros":  # as nn.Conv2d does it: pad first, then no padding
        x = F.pad(x, layer._reversed_padding_repeated_twice, mode=layer.padding_mode)
        padding = 0
    out = F.conv2d(x, weight, bias, layer.stride, padding, layer.dilation, groups=groups)
    out = F.relu(out) if relu else out
    if pool is None:
        return out
    return F.max_pool2d(out, 2) if pool == "max" else F.avg_pool2d(out, 2)


def _check(device: torch.device) -> float:
    """The kernels' largest relative difference to torch in float64 (values and gradients of a
    small grouped layer with reflect padding and ReLU, without a pool and with each pool)."""
    gen = torch.Generator().manual_seed(0)
    layer = nn.Conv2d(4, 6, 3, padding=1, padding_mode="reflect", groups=2)
    x = torch.randn(3, 4, 9, 8, generator=gen)
    worst = 0.0
    for pool in (None, "max", "avg"):
        found, grad = [], None
        for dtype in (torch.float64, torch.float32):
            leaves = [t.detach().to(device, dtype).requires_grad_()
                      for t in (x, layer.weight, layer.bias)]
            if dtype == torch.float64:
                out = _torch_conv(layer, leaves[1], leaves[2], leaves[0], 2, True, pool)
                grad = torch.randn(out.shape, generator=gen, dtype=dtype).to(device)
            else:
                out = _TinyConv.apply(leaves[0], leaves[1], leaves[2], 2, padding_of(layer),
                                      True, True, POOLS.get(pool or "", 0))
            found.append([out, *torch.autograd.grad(out, leaves, grad.to(dtype))])
        worst = max(worst, relative_difference(found[1], found[0]))
    return worst


class _TinyConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                groups: int, pads: tuple[int, int, int, int], reflect: bool, relu: bool,
                pool: int = 0) -> torch.Tensor:
        with on_device(x.device):
            out, signs, arg = _kernels().forward(x, weight, bias, groups, pads, reflect, relu,
                                                 pool)
        # a bare convolution's gradient reads no output: it is not kept (an in-place op may follow)
        ctx.save_for_backward(x, weight, signs if relu or pool else None, arg)
        k = weight.shape[-1]
        ctx.conv_shape = (x.shape[2] + pads[0] + pads[1] - k + 1,
                          x.shape[3] + pads[2] + pads[3] - k + 1)
        ctx.geometry = groups, pads, reflect, relu, pool
        ctx.has_bias = bias is not None
        ctx.bias_shape = None if bias is None else bias.shape
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight, signs, arg = ctx.saved_tensors
        groups, pads, reflect, relu, pool = ctx.geometry
        grad = grad.contiguous()
        signs = grad if signs is None else signs  # read by no kernel then
        kernels = _kernels()
        gx = gw = gb = None
        with on_device(x.device):
            if ctx.needs_input_grad[0]:
                gx = kernels.grad_input(grad, signs, arg, weight, x.shape, ctx.conv_shape,
                                        groups, pads, reflect, relu, pool)
            if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
                programs = kernels.weight_programs(weight.shape)
                splits = min(x.shape[0], max(1, -(-MIN_PROGRAMS // programs)))
                gw, gb = kernels.grad_weight(x, grad, signs, arg, weight.shape, ctx.conv_shape,
                                             groups, pads, reflect, relu, pool, splits)
                gb = gb.view(ctx.bias_shape) if ctx.has_bias else None
        return gx, gw, gb, None, None, None, None, None
