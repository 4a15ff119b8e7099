"""The Triton kernels of `models.tiny_conv` (imported on first use on a GPU).

Tensors are contiguous NCHW float32. A convolution has `groups` groups of `cin_g` input and
`cout_g` output channels, stride 1, no dilation, and its padding (zeros or reflect; `top` rows
and `left` columns before the map) applied as the kernel reads. Each program of the forward pass
computes a block of one output map, looping over the group's input channels and the filter taps
(the gradients' kernels are in `kernels.tiny_conv_grad`). A flag `relu` applies a ReLU after the
convolution, `pool` a 2x2 pool after that. Every integer argument is left unspecialised, so that
one compilation serves every layer.
"""

from __future__ import annotations

import functools

import torch
import triton
import triton.language as tl

from scratchlab.kernels.support import flat_shape
from scratchlab.kernels.tiny_conv_grad import (
    _filter,
    _fold,
    _grad_padded,
    _grad_weight,
    _input_plane,
    _pixel,
    _program_block,
    _source,
    _unspecialised,
)

BLOCK = 256  # pixels per program
TAPS = 16  # filter taps per pass of the weight-gradient kernel


@triton.jit(do_not_specialize=_unspecialised(
    "C_in H W C_out Ho Wo cin_g cout_g K top left reflect relu has_bias per_model w_stride "
    "b_stride"))
def _forward(x_ptr, w_ptr, b_ptr, y_ptr, C_in, H, W, C_out, Ho, Wo, cin_g, cout_g, K, top, left,
             reflect, relu, has_bias, per_model, w_stride, b_stride, BLOCK: tl.constexpr):
    plane, b, oc, group, offs, inside, oy, ox = _program_block(C_out, cout_g, Ho * Wo, Wo, BLOCK)
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for ci in range(cin_g):
        x_plane = _input_plane(x_ptr, b, C_in, group, cin_g, ci, H, W)
        w_row = _filter(w_ptr, oc, cin_g, ci, K, per_model, w_stride)
        for dy in range(K):
            sy, vy = _source(oy + dy - top, H, reflect)
            for dx in range(K):
                sx, vx = _source(ox + dx - left, W, reflect)
                acc += _pixel(x_plane, W, sy, vy, sx, vx, inside) * tl.load(w_row + dy * K + dx)
    if has_bias != 0:
        acc += _bias(b_ptr, oc, per_model, b_stride)
    if relu != 0:
        acc = tl.where(acc < 0, 0.0, acc)  # NaN stays NaN, as torch's ReLU keeps it
    tl.store(y_ptr + plane * Ho * Wo + offs, acc, mask=inside)


@triton.jit
def _bias(b_ptr, oc, per_model, b_stride):
    """Output channel `oc`'s bias (each model's `per_model` biases `b_stride` apart)."""
    model = oc // per_model
    return tl.load(b_ptr + model * b_stride + oc - model * per_model)


@triton.jit
def _later(best, arg, value, position: tl.constexpr):
    """The maximum and its position after window element `value` at `position`, by torch's
    rule: a later element replaces the maximum when it is larger or NaN."""
    take = (value > best) | (value != value)
    return tl.where(take, value, best), tl.where(take, position, arg)


@triton.jit(do_not_specialize=_unspecialised(
    "C_in H W C_out Ho Wo Hq Wq cin_g cout_g K top left reflect relu has_bias pool per_model "
    "w_stride b_stride"))
def _forward_pooled(x_ptr, w_ptr, b_ptr, y_ptr, q_ptr, arg_ptr, C_in, H, W, C_out, Ho, Wo, Hq,
                    Wq, cin_g, cout_g, K, top, left, reflect, relu, has_bias, pool, per_model,
                    w_stride, b_stride, BLOCK: tl.constexpr):
    """The convolution (and ReLU) and a 2x2 pool after it (`pool` 1: max, keeping the window
    position of each maximum in `arg_ptr`; 2: average, keeping the maps before it in `y_ptr`)."""
    plane, b, oc, group, offs, inside, qy, qx = _program_block(C_out, cout_g, Hq * Wq, Wq, BLOCK)
    oy = 2 * qy  # the pool window's top left pixel of the convolution's output
    ox = 2 * qx
    a0 = tl.zeros([BLOCK], dtype=tl.float32)
    a1 = tl.zeros([BLOCK], dtype=tl.float32)
    a2 = tl.zeros([BLOCK], dtype=tl.float32)
    a3 = tl.zeros([BLOCK], dtype=tl.float32)
    for ci in range(cin_g):
        x_plane = _input_plane(x_ptr, b, C_in, group, cin_g, ci, H, W)
        w_row = _filter(w_ptr, oc, cin_g, ci, K, per_model, w_stride)
        for dy in range(K):
            sy0, vy0 = _source(oy + dy - top, H, reflect)
            sy1, vy1 = _source(oy + 1 + dy - top, H, reflect)
            for dx in range(K):
                sx0, vx0 = _source(ox + dx - left, W, reflect)
                sx1, vx1 = _source(ox + 1 + dx - left, W, reflect)
                wt = tl.load(w_row + dy * K + dx)
                a0 += _pixel(x_plane, W, sy0, vy0, sx0, vx0, inside) * wt
                a1 += _pixel(x_plane, W, sy0, vy0, sx1, vx1, inside) * wt
                a2 += _pixel(x_plane, W, sy1, vy1, sx0, vx0, inside) * wt
                a3 += _pixel(x_plane, W, sy1, vy1, sx1, vx1, inside) * wt
    if has_bias != 0:
        bias = _bias(b_ptr, oc, per_model, b_stride)
        a0 += bias
        a1 += bias
        a2 += bias
        a3 += bias
    if relu != 0:
        a0 = tl.where(a0 < 0, 0.0, a0)
        a1 = tl.where(a1 < 0, 0.0, a1)
        a2 = tl.where(a2 < 0, 0.0, a2)
        a3 = tl.where(a3 < 0, 0.0, a3)
    out = plane * Hq * Wq + offs
    if pool == 1:
        best = a0
        arg = tl.zeros([BLOCK], dtype=tl.int32)
        best, arg = _later(best, arg, a1, 1)
        best, arg = _later(best, arg, a2, 2)
        best, arg = _later(best, arg, a3, 3)
        tl.store(q_ptr + out, best, mask=inside)
        tl.store(arg_ptr + out, arg.to(tl.int8), mask=inside)
    else:
        tl.store(q_ptr + out, (a0 + a1 + a2 + a3) / 4, mask=inside)
        at = y_ptr + plane * Ho * Wo + oy * Wo + ox
        tl.store(at, a0, mask=inside)
        tl.store(at + 1, a1, mask=inside)
        tl.store(at + Wo, a2, mask=inside)
        tl.store(at + Wo + 1, a3, mask=inside)


def layout(weight: torch.Tensor, bias: torch.Tensor | None = None) -> tuple[int, int, int]:
    """(per_model, w_stride, b_stride): a plain weight `(C_out, C_in / groups, k, k)` is one model
    of C_out channels; N models' stacked weights `(N, out, in, k, k)` and biases `(N, out)` are
    read in place, each model's own contiguous and the models `stride(0)` apart
    (`support.each_model_contiguous`)."""
    if weight.dim() == 4:
        return weight.shape[0], 0, 0
    return weight.shape[1], weight.stride(0), 0 if bias is None else bias.stride(0)


def forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, groups: int,
            pads: tuple[int, int, int, int], reflect: bool, relu: bool, pool: int
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The convolution (and ReLU, and with `pool` 1 or 2 a 2x2 max or average pool) of `x`
    (B, C_in, H, W); `pads` (top, bottom, left, right). Returns the output, the tensor whose
    signs the ReLU's gradient reads (`_output_grad`) and the max pool's window positions;
    `weight` plain or stacked (`layout`)."""
    b, c_in, h, w = x.shape
    c_out, cin_g, k = flat_shape(weight.shape)[:3]
    models = layout(weight, bias)
    ho, wo = h + pads[0] + pads[1] - k + 1, w + pads[2] + pads[3] - k + 1
    empty = functools.partial(torch.empty, device=x.device, dtype=x.dtype)
    shape = (int(reflect), int(relu), int(bias is not None))
    if pool == 0:
        y = empty((b, c_out, ho, wo))
        grid = (b * c_out, triton.cdiv(ho * wo, BLOCK))
        _forward[grid](x, weight, weight if bias is None else bias, y, c_in, h, w, c_out, ho, wo,
                       cin_g, c_out // groups, k, pads[0], pads[2], *shape, *models,
                       BLOCK=BLOCK)
        return y, y, None
    hq, wq = ho // 2, wo // 2
    pooled = empty((b, c_out, hq, wq))
    arg = torch.empty(pooled.shape, device=x.device, dtype=torch.int8) if pool == 1 else None
    y = empty((b, c_out, ho, wo)) if pool == 2 else None
    grid = (b * c_out, triton.cdiv(hq * wq, BLOCK))
    _forward_pooled[grid](x, weight, weight if bias is None else bias,
                          pooled if y is None else y, pooled, pooled if arg is None else arg,
                          c_in, h, w, c_out, ho, wo, hq, wq, cin_g, c_out // groups, k, pads[0],
                          pads[2], *shape, pool, *models, BLOCK=BLOCK)
    return pooled, pooled if pool == 1 else y, arg


def grad_input(g: torch.Tensor, y: torch.Tensor, arg: torch.Tensor | None, weight: torch.Tensor,
               x_shape: torch.Size, conv_shape: tuple[int, int], groups: int,
               pads: tuple[int, int, int, int], reflect: bool, relu: bool,
               pool: int) -> torch.Tensor:
    """The gradient of the input from the gradient `g` of the output (`conv_shape`: the
    convolution's own output size)."""
    b, c_in, h, w = x_shape
    c_out, cin_g, k = flat_shape(weight.shape)[:3]
    per_model, w_stride, _ = layout(weight)
    hp, wp = h + pads[0] + pads[1], w + pads[2] + pads[3]
    gp = torch.empty((b, c_in, hp, wp), device=g.device, dtype=g.dtype)
    grid = (b * c_in, triton.cdiv(hp * wp, BLOCK))
    _grad_padded[grid](g, y, y if arg is None else arg, weight, gp, c_in, hp, wp, c_out,
                       *conv_shape, cin_g, c_out // groups, k, int(relu), pool, per_model,
                       w_stride, BLOCK=BLOCK)
    gx = torch.empty(x_shape, device=g.device, dtype=g.dtype)
    total = gx.numel()
    _fold[(triton.cdiv(total, BLOCK),)](gp, gx, h, w, hp, wp, pads[0], pads[2], int(reflect),
                                        total, BLOCK=BLOCK)
    return gx


def weight_programs(weight_shape: torch.Size) -> int:
    """The programs of `grad_weight` per share of the batch: one per `TAPS` taps of each filter's
    input channel."""
    c_out, cin_g, k = flat_shape(weight_shape)[:3]
    return c_out * cin_g * triton.cdiv(k * k, TAPS)


def grad_weight(x: torch.Tensor, g: torch.Tensor, y: torch.Tensor, arg: torch.Tensor | None,
                weight_shape: torch.Size, conv_shape: tuple[int, int], groups: int,
                pads: tuple[int, int, int, int], reflect: bool, relu: bool, pool: int,
                splits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The gradients of the weight (shaped `weight_shape`, plain or stacked) and the bias
    (one per output channel), the batch cut into `splits` shares whose partial sums are added in a
    fixed order."""
    b, c_in, h, w = x.shape
    c_out, cin_g, k = flat_shape(weight_shape)[:3]
    per_split = triton.cdiv(b, splits)
    splits = triton.cdiv(b, per_split)
    size = weight_shape.numel()
    # each share's weight and bias gradients side by side, so that one reduction adds them all
    partial = torch.empty((splits, size + c_out), device=x.device, dtype=x.dtype)
    grid = (c_out * cin_g, splits, triton.cdiv(k * k, TAPS))
    _grad_weight[grid](x, g, y, y if arg is None else arg, partial, partial[:, size:], b, c_in, h,
                       w, c_out, *conv_shape, cin_g, k, pads[0], pads[2], int(reflect), int(relu),
                       pool, c_out // groups, per_split, size + c_out, TAPS=TAPS,
                       BLOCK=BLOCK // 2)
    total = partial[0] if splits == 1 else partial.sum(0)
    return total[:size].view(weight_shape), total[size:]
