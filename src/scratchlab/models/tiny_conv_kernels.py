"""The Triton kernels of `tiny_conv` (imported on first use on a GPU).

Tensors are contiguous NCHW float32. A convolution has `groups` groups of `cin_g` input and
`cout_g` output channels, stride 1, no dilation, and its padding (zeros or reflect; `top` rows
and `left` columns before the map) applied as the kernel reads. Each program of the forward pass
computes a block of pixels of up to `MAX_CHANNELS` output maps of one group, looping over the
group's input channels and the filter taps, so that each input it loads serves all those maps
(the gradients' kernels are in `tiny_conv_grad_kernels`). A flag `relu` applies a ReLU after the
convolution, `pool` a 2x2 pool after that. Every integer argument is left unspecialised, so that
one compilation serves every layer with the same power of 2 of channels per program.
"""

from __future__ import annotations

import functools

import torch
import triton
import triton.language as tl

from scratchlab.models.tiny_conv_grad_kernels import (
    _fold,
    _grad_padded,
    _grad_weight,
    _source,
    _unspecialised,
)

BLOCK = 256  # pixels per program
MAX_CHANNELS = 8  # channels of a group one program computes, at most
CHANNEL_PIXELS = 512  # channels x pixels of a program, about
MIN_BLOCK = 64  # pixels per program, at least
MAX_TAPS = 64  # filter taps per pass of the weight-gradient kernel, at most
TILE = 4096  # output channels x taps x pixels of the weight-gradient kernel's sums
MIN_BLOCK_TAPS = 8  # pixels per step of the weight-gradient kernel, at least


@triton.jit
def _channels_of(C_out, cout_g, chunks, COUT: tl.constexpr):
    """Batch index, first output channel of the group and this program's `COUT` channels of it
    (offsets in the group, and which of them exist) of the program `program_id(0)`."""
    pid = tl.program_id(0)  # ((b * groups + group) * chunks + chunk)
    chunk = pid % chunks
    bg = pid // chunks
    groups = C_out // cout_g
    o = chunk * COUT + tl.arange(0, COUT)
    return bg // groups, (bg % groups) * cout_g, o, o < cout_g


@triton.jit(do_not_specialize=_unspecialised(
    "C_in H W C_out Ho Wo cin_g cout_g chunks K top left reflect relu has_bias"))
def _forward(x_ptr, w_ptr, b_ptr, y_ptr, C_in, H, W, C_out, Ho, Wo, cin_g, cout_g, chunks, K,
             top, left, reflect, relu, has_bias, COUT: tl.constexpr, BLOCK: tl.constexpr):
    b, first, o, o_in = _channels_of(C_out, cout_g, chunks, COUT)
    oc = first + o
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    inside = offs < Ho * Wo
    oy = offs // Wo
    ox = offs % Wo
    acc = tl.zeros([COUT, BLOCK], dtype=tl.float32)
    for ci in range(cin_g):
        x_plane = x_ptr + (b * C_in + (first // cout_g) * cin_g + ci) * H * W
        w_rows = w_ptr + (oc * cin_g + ci) * K * K
        for dy in range(K):
            sy, vy = _source(oy + dy - top, H, reflect)
            for dx in range(K):
                sx, vx = _source(ox + dx - left, W, reflect)
                v = tl.load(x_plane + sy * W + sx, mask=inside & vy & vx, other=0.0)
                wt = tl.load(w_rows + dy * K + dx, mask=o_in, other=0.0)
                acc += wt[:, None] * v[None, :]
    if has_bias != 0:
        acc += tl.load(b_ptr + oc, mask=o_in, other=0.0)[:, None]
    if relu != 0:
        acc = tl.where(acc < 0, 0.0, acc)  # NaN stays NaN, as torch's ReLU keeps it
    at = (b * C_out + oc)[:, None] * Ho * Wo + offs[None, :]
    tl.store(y_ptr + at, acc, mask=o_in[:, None] & inside[None, :])


@triton.jit
def _later(best, arg, value, position: tl.constexpr):
    """The maximum and its position after window element `value` at `position`, by torch's
    rule: a later element replaces the maximum when it is larger or NaN."""
    take = (value > best) | (value != value)
    return tl.where(take, value, best), tl.where(take, position, arg)


@triton.jit(do_not_specialize=_unspecialised(
    "C_in H W C_out Ho Wo Hq Wq cin_g cout_g chunks K top left reflect relu has_bias pool"))
def _forward_pooled(x_ptr, w_ptr, b_ptr, y_ptr, q_ptr, arg_ptr, C_in, H, W, C_out, Ho, Wo, Hq,
                    Wq, cin_g, cout_g, chunks, K, top, left, reflect, relu, has_bias, pool,
                    COUT: tl.constexpr, BLOCK: tl.constexpr):
    """The convolution (and ReLU) and a 2x2 pool after it (`pool` 1: max, keeping the window
    position of each maximum in `arg_ptr`; 2: average, keeping the maps before it in `y_ptr`)."""
    b, first, o, o_in = _channels_of(C_out, cout_g, chunks, COUT)
    oc = first + o
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    inside = offs < Hq * Wq
    oy = 2 * (offs // Wq)
    ox = 2 * (offs % Wq)
    a0 = tl.zeros([COUT, BLOCK], dtype=tl.float32)
    a1 = tl.zeros([COUT, BLOCK], dtype=tl.float32)
    a2 = tl.zeros([COUT, BLOCK], dtype=tl.float32)
    a3 = tl.zeros([COUT, BLOCK], dtype=tl.float32)
    for ci in range(cin_g):
        x_plane = x_ptr + (b * C_in + (first // cout_g) * cin_g + ci) * H * W
        w_rows = w_ptr + (oc * cin_g + ci) * K * K
        for dy in range(K):
            sy0, vy0 = _source(oy + dy - top, H, reflect)
            sy1, vy1 = _source(oy + 1 + dy - top, H, reflect)
            for dx in range(K):
                sx0, vx0 = _source(ox + dx - left, W, reflect)
                sx1, vx1 = _source(ox + 1 + dx - left, W, reflect)
                wt = tl.load(w_rows + dy * K + dx, mask=o_in, other=0.0)[:, None]
                v0 = tl.load(x_plane + sy0 * W + sx0, mask=inside & vy0 & vx0, other=0.0)
                v1 = tl.load(x_plane + sy0 * W + sx1, mask=inside & vy0 & vx1, other=0.0)
                v2 = tl.load(x_plane + sy1 * W + sx0, mask=inside & vy1 & vx0, other=0.0)
                v3 = tl.load(x_plane + sy1 * W + sx1, mask=inside & vy1 & vx1, other=0.0)
                a0 += wt * v0[None, :]
                a1 += wt * v1[None, :]
                a2 += wt * v2[None, :]
                a3 += wt * v3[None, :]
    if has_bias != 0:
        bias = tl.load(b_ptr + oc, mask=o_in, other=0.0)[:, None]
        a0 += bias
        a1 += bias
        a2 += bias
        a3 += bias
    if relu != 0:
        a0 = tl.where(a0 < 0, 0.0, a0)
        a1 = tl.where(a1 < 0, 0.0, a1)
        a2 = tl.where(a2 < 0, 0.0, a2)
        a3 = tl.where(a3 < 0, 0.0, a3)
    plane = (b * C_out + oc)[:, None]
    out = plane * Hq * Wq + offs[None, :]
    keep = o_in[:, None] & inside[None, :]
    if pool == 1:
        best = a0
        arg = tl.zeros([COUT, BLOCK], dtype=tl.int32)
        best, arg = _later(best, arg, a1, 1)
        best, arg = _later(best, arg, a2, 2)
        best, arg = _later(best, arg, a3, 3)
        tl.store(q_ptr + out, best, mask=keep)
        tl.store(arg_ptr + out, arg.to(tl.int8), mask=keep)
    else:
        tl.store(q_ptr + out, (a0 + a1 + a2 + a3) / 4, mask=keep)
        at = y_ptr + plane * Ho * Wo + (oy * Wo + ox)[None, :]
        tl.store(at, a0, mask=keep)
        tl.store(at + 1, a1, mask=keep)
        tl.store(at + Wo, a2, mask=keep)
        tl.store(at + Wo + 1, a3, mask=keep)


def _channel_blocks(per_group: int) -> tuple[int, int, int]:
    """Channels of a group per program (a power of 2, at most `MAX_CHANNELS`: output channels in the
    forward pass, input channels in the input's gradient), programs per group and pixels per
    program (fewer where a program computes more channels)."""
    count = min(MAX_CHANNELS, triton.next_power_of_2(per_group))
    pixels = max(MIN_BLOCK, min(BLOCK, CHANNEL_PIXELS // count))
    return count, triton.cdiv(per_group, count), pixels


def forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, groups: int,
            pads: tuple[int, int, int, int], reflect: bool, relu: bool, pool: int
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The convolution (and ReLU, and with `pool` 1 or 2 a 2x2 max or average pool) of `x`
    (B, C_in, H, W); `pads` (top, bottom, left, right). Returns the output, the tensor whose
    signs the ReLU's gradient reads (`_output_grad`) and the max pool's window positions."""
    b, c_in, h, w = x.shape
    c_out, cin_g, k = weight.shape[0], weight.shape[1], weight.shape[2]
    ho, wo = h + pads[0] + pads[1] - k + 1, w + pads[2] + pads[3] - k + 1
    empty = functools.partial(torch.empty, device=x.device, dtype=x.dtype)
    shape = (int(reflect), int(relu), int(bias is not None))
    cout, chunks, block = _channel_blocks(c_out // groups)
    if pool == 0:
        y = empty((b, c_out, ho, wo))
        grid = (b * groups * chunks, triton.cdiv(ho * wo, block))
        _forward[grid](x, weight, weight if bias is None else bias, y, c_in, h, w, c_out, ho, wo,
                       cin_g, c_out // groups, chunks, k, pads[0], pads[2], *shape, COUT=cout,
                       BLOCK=block)
        return y, y, None
    hq, wq = ho // 2, wo // 2
    pooled = empty((b, c_out, hq, wq))
    arg = torch.empty(pooled.shape, device=x.device, dtype=torch.int8) if pool == 1 else None
    y = empty((b, c_out, ho, wo)) if pool == 2 else None
    grid = (b * groups * chunks, triton.cdiv(hq * wq, block))
    _forward_pooled[grid](x, weight, weight if bias is None else bias,
                          pooled if y is None else y, pooled, pooled if arg is None else arg,
                          c_in, h, w, c_out, ho, wo, hq, wq, cin_g, c_out // groups, chunks, k,
                          pads[0], pads[2], *shape, pool, COUT=cout, BLOCK=block)
    return pooled, pooled if pool == 1 else y, arg


def grad_input(g: torch.Tensor, y: torch.Tensor, arg: torch.Tensor | None, weight: torch.Tensor,
               x_shape: torch.Size, conv_shape: tuple[int, int], groups: int,
               pads: tuple[int, int, int, int], reflect: bool, relu: bool,
               pool: int) -> torch.Tensor:
    """The gradient of the input from the gradient `g` of the output (`conv_shape`: the
    convolution's own output size)."""
    b, c_in, h, w = x_shape
    c_out, cin_g, k = weight.shape[0], weight.shape[1], weight.shape[2]
    hp, wp = h + pads[0] + pads[1], w + pads[2] + pads[3]
    gp = torch.empty((b, c_in, hp, wp), device=g.device, dtype=g.dtype)
    cin, chunks, block = _channel_blocks(cin_g)
    grid = (b * groups * chunks, triton.cdiv(hp * wp, block))
    _grad_padded[grid](g, y, y if arg is None else arg, weight, gp, c_in, hp, wp, c_out,
                       *conv_shape, cin_g, c_out // groups, chunks, k, int(relu), pool, CIN=cin,
                       BLOCK=block)
    gx = torch.empty(x_shape, device=g.device, dtype=g.dtype)
    total = gx.numel()
    _fold[(triton.cdiv(total, BLOCK),)](gp, gx, h, w, hp, wp, pads[0], pads[2], int(reflect),
                                        total, BLOCK=BLOCK)
    return gx


def grad_weight(x: torch.Tensor, g: torch.Tensor, y: torch.Tensor, arg: torch.Tensor | None,
                weight_shape: torch.Size, conv_shape: tuple[int, int], groups: int,
                pads: tuple[int, int, int, int], reflect: bool, relu: bool, pool: int,
                min_programs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The gradients of the weight and the bias, the batch cut into shares (enough for about
    `min_programs` programs) whose partial sums are added in a fixed order."""
    b, c_in, h, w = x.shape
    c_out, cin_g, k = weight_shape[0], weight_shape[1], weight_shape[2]
    cout, chunks, _ = _channel_blocks(c_out // groups)
    rows = groups * chunks * cin_g  # programs per share
    per_split = triton.cdiv(b, min(b, triton.cdiv(min_programs, rows)))
    splits = triton.cdiv(b, per_split)
    size = weight_shape.numel()
    taps = min(MAX_TAPS, max(16, triton.next_power_of_2(k * k)))  # one pass up to 8x8
    # each share's weight and bias gradients side by side, so that one reduction adds them all
    partial = torch.empty((splits, size + c_out), device=x.device, dtype=x.dtype)
    _grad_weight[(groups * chunks * cin_g, splits)](
        x, g, y, y if arg is None else arg, partial, partial[:, size:], b, c_in, h, w, c_out,
        *conv_shape, cin_g, k, pads[0], pads[2], int(reflect), int(relu), pool, c_out // groups,
        chunks, per_split, size + c_out, COUT=cout, TAPS=taps,
        BLOCK=max(MIN_BLOCK_TAPS, TILE // (cout * taps)))
    total = partial[0] if splits == 1 else partial.sum(0)
    return total[:size].view(weight_shape), total[size:]
