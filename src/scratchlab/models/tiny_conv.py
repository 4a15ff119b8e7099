"""A convolution of many tiny groups (the stacked models of `models.stacked`), optionally with the
ReLU after it, through Triton kernels on a GPU.

For groups of a few channels and small filters (the inductive-bias study's 1 to 6 channels of
7x7) cuDNN's grouped convolution runs a generic algorithm with layout transforms around it, and
the reflect padding and the ReLU are kernels of their own, forward and backward. `tiny_conv2d`
does the forward pass in one kernel (padding, convolution, bias, ReLU), the input gradient in
two and the weight and bias gradients in one or two (`tiny_conv_kernels`). Its values are those
of `F.conv2d` (then `F.relu`) up to float32 round-off (the taps are summed in another order).
Elsewhere (CPU, no Triton, a layer it does not cover) it is `F.conv2d` and `F.relu`.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from scratchlab.models.kernel_support import on_device, triton_module

MAX_TAPS = 1024  # largest channels x taps of a group (per output pixel) the kernels take
MIN_PROGRAMS = 264  # weight-gradient programs wanted (2 per SM of an H100): more batch shares
ENV_OFF = "SCRATCHLAB_TINY_CONV"  # set to 0 to use F.conv2d everywhere


def _kernels() -> Any:
    return triton_module("tiny_conv_kernels")


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


def kernel_applies(layer: nn.Conv2d, x: torch.Tensor, weight: torch.Tensor, groups: int) -> bool:
    """Whether `tiny_conv2d` runs the Triton kernels for `layer` on `x` with `weight`."""
    k_h, k_w = layer.kernel_size
    return (x.is_cuda and x.dtype == torch.float32 == weight.dtype and x.dim() == 4
            and x.is_contiguous() and 0 < x.numel() < 2**31
            and layer.stride == (1, 1) and layer.dilation == (1, 1) and k_h == k_w
            and padding_of(layer) is not None
            and weight.shape[1] * k_h * k_w <= MAX_TAPS
            and weight.shape[0] // groups * k_h * k_w <= MAX_TAPS
            and not torch.compiler.is_compiling()
            and os.environ.get(ENV_OFF, "1") != "0" and _kernels() is not None)


def tiny_conv2d(layer: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor | None,
                x: torch.Tensor, groups: int, relu: bool = False) -> torch.Tensor:
    """`layer`'s convolution of `x` with `weight` `(C_out, C_in / groups, k, k)` in `groups`
    groups (and a ReLU after it with `relu`), as `F.conv2d` gives it after the layer's padding."""
    if not kernel_applies(layer, x, weight, groups):
        padding = layer.padding
        if layer.padding_mode != "zeros":  # as nn.Conv2d does it: pad first, then no padding
            x = F.pad(x, layer._reversed_padding_repeated_twice, mode=layer.padding_mode)
            padding = 0
        out = F.conv2d(x, weight, bias, layer.stride, padding, layer.dilation, groups=groups)
        return F.relu(out) if relu else out
    reflect = layer.padding_mode == "reflect"
    return _TinyConv.apply(x, weight.contiguous(), bias, groups, padding_of(layer), reflect,
                           relu)


class _TinyConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                groups: int, pads: tuple[int, int, int, int], reflect: bool,
                relu: bool) -> torch.Tensor:
        with on_device(x.device):
            y = _kernels().forward(x, weight, bias, groups, pads, reflect, relu)
        ctx.save_for_backward(x, weight, y)
        ctx.geometry = groups, pads, reflect, relu
        ctx.has_bias = bias is not None
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight, y = ctx.saved_tensors
        groups, pads, reflect, relu = ctx.geometry
        grad = grad.contiguous()
        kernels = _kernels()
        gx = gw = gb = None
        with on_device(x.device):
            if ctx.needs_input_grad[0]:
                gx = kernels.grad_input(grad, y, weight, x.shape, groups, pads, reflect, relu)
            if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
                rows = weight.shape[0] * weight.shape[1]
                splits = min(x.shape[0], max(1, -(-MIN_PROGRAMS // rows)))
                gw, gb = kernels.grad_weight(x, grad, y, weight.shape, groups, pads, reflect,
                                             relu, splits)
        return gx, gw, gb if ctx.has_bias else None, None, None, None, None
