"""The gradient kernels of `models.tiny_conv` (imported on first use on a GPU; see `tiny_conv`).

`_grad_padded` computes a block of the gradient of the padded input, `_fold` adds it back onto
the pixels the padding copied, `_grad_weight` `TAPS` taps of one input channel of one filter
over a share of the batch; `_output_grad` reads the gradient of the convolution's output through
the ReLU and pool that followed it.
"""

from __future__ import annotations

import triton
import triton.language as tl


def _unspecialised(names: str) -> list[str]:
    """The integer arguments left unspecialised (one compilation serves every size)."""
    return names.split()


@triton.jit
def _source(t, size, reflect):
    """Where padded coordinate `t` (of the unpadded map, may be outside it) reads from, and
    whether it reads at all (zero padding reads nothing outside)."""
    mirrored = tl.where(t < 0, -t, t)
    mirrored = tl.where(mirrored >= size, 2 * (size - 1) - mirrored, mirrored)
    inside = (t >= 0) & (t < size)
    return tl.where(reflect != 0, mirrored, t), inside | (reflect != 0)


@triton.jit
def _program_block(C, per_group, pixels, width, BLOCK: tl.constexpr):
    """The map this program computes (`program_id(0)`: b * `C` + channel) and its block of
    `BLOCK` of the map's `pixels` (rows `width` wide, `program_id(1)`): the map's plane, batch
    index, channel and group (`per_group` channels each); the block's offsets, which of them lie
    in the map, and their rows and columns."""
    plane = tl.program_id(0)
    c = plane % C
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    return plane, plane // C, c, c // per_group, offs, offs < pixels, offs // width, offs % width


@triton.jit
def _input_plane(x_ptr, b, C_in, group, cin_g, ci, H, W):
    """Where input channel `ci` of `group` (`cin_g` channels a group) of image `b` begins."""
    return x_ptr + (b * C_in + group * cin_g + ci) * H * W


@triton.jit
def _filter(w_ptr, oc, cin_g, ci, K, per_model, w_stride):
    """Where the K x K filter of output channel `oc` over its group's input `ci` begins: the
    filters of each model (`per_model` output channels) `w_stride` apart (stacked weights read in
    place; one model, `per_model` all channels, for a plain weight)."""
    model = oc // per_model
    return w_ptr + model * w_stride + ((oc - model * per_model) * cin_g + ci) * K * K


@triton.jit
def _pixel(plane, W, sy, vy, sx, vx, mask):
    """Pixel (`sy`, `sx`) of an input `plane` `W` wide: 0 outside the map (`vy` or `vx` false,
    the zero padding) and where `mask` is false."""
    return tl.load(plane + sy * W + sx, mask=mask & vy & vx, other=0.0)


@triton.jit
def _output_grad(g_ptr, y_ptr, arg_ptr, plane, oy, ox, Ho, Wo, mask, relu, pool):
    """The gradient of the convolution's output at (`oy`, `ox`) of `plane` from the gradient
    of what follows it: the ReLU (its mask read from the output `y_ptr`; a NaN output passes
    the gradient, as in torch) and with `pool` a 2x2 max pool (1; `y_ptr` the pooled maps,
    `arg_ptr` each maximum's window position) or average pool (2; `y_ptr` the maps before it)."""
    if pool == 0:
        at = plane * Ho * Wo + oy * Wo + ox
        g = tl.load(g_ptr + at, mask=mask, other=0.0)
        if relu != 0:
            g = tl.where(tl.load(y_ptr + at, mask=mask, other=0.0) <= 0, 0.0, g)
    else:
        hq = Ho // 2
        wq = Wo // 2
        pooled = mask & (oy < 2 * hq) & (ox < 2 * wq)
        at = plane * hq * wq + (oy // 2) * wq + ox // 2
        g = tl.load(g_ptr + at, mask=pooled, other=0.0)
        if pool == 1:
            arg = tl.load(arg_ptr + at, mask=pooled, other=0).to(tl.int32)
            g = tl.where(arg == (oy % 2) * 2 + ox % 2, g, 0.0)
            if relu != 0:
                g = tl.where(tl.load(y_ptr + at, mask=pooled, other=0.0) <= 0, 0.0, g)
        else:
            g = g / 4
            if relu != 0:
                y = tl.load(y_ptr + plane * Ho * Wo + oy * Wo + ox, mask=pooled, other=0.0)
                g = tl.where(y <= 0, 0.0, g)
    return g


@triton.jit(do_not_specialize=_unspecialised(
    "C_in Hp Wp C_out Ho Wo cin_g cout_g K relu pool per_model w_stride"))
def _grad_padded(g_ptr, y_ptr, arg_ptr, w_ptr, gp_ptr, C_in, Hp, Wp, C_out, Ho, Wo, cin_g,
                 cout_g, K, relu, pool, per_model, w_stride, BLOCK: tl.constexpr):
    plane, b, c, group, offs, inside, py, px = _program_block(C_in, cin_g, Hp * Wp, Wp, BLOCK)
    ci = c % cin_g
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for o in range(cout_g):
        oc = group * cout_g + o
        w_row = _filter(w_ptr, oc, cin_g, ci, K, per_model, w_stride)
        for dy in range(K):
            oy = py - dy
            vy = (oy >= 0) & (oy < Ho)
            for dx in range(K):
                ox = px - dx
                m = inside & vy & (ox >= 0) & (ox < Wo)
                g = _output_grad(g_ptr, y_ptr, arg_ptr, b * C_out + oc, oy, ox, Ho, Wo, m, relu,
                                 pool)
                acc += g * tl.load(w_row + dy * K + dx)
    tl.store(gp_ptr + plane * Hp * Wp + offs, acc, mask=inside)


@triton.jit(do_not_specialize=_unspecialised("H W Hp Wp top left reflect total"))
def _fold(gp_ptr, gx_ptr, H, W, Hp, Wp, top, left, reflect, total, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = offs < total
    j = offs % W
    i = (offs // W) % H
    base = gp_ptr + (offs // (H * W)) * Hp * Wp
    bottom = Hp - H - top
    right = Wp - W - left
    r0 = i + top
    r1 = top - i
    r2 = 2 * (H - 1) - i + top
    c0 = j + left
    c1 = left - j
    c2 = 2 * (W - 1) - j + left
    on = reflect != 0
    ry1 = on & (i >= 1) & (i <= top)
    ry2 = on & (i <= H - 2) & (i >= H - 1 - bottom)
    rx1 = on & (j >= 1) & (j <= left)
    rx2 = on & (j <= W - 2) & (j >= W - 1 - right)
    acc = tl.load(base + r0 * Wp + c0, mask=inside, other=0.0)
    acc += tl.load(base + r0 * Wp + c1, mask=inside & rx1, other=0.0)
    acc += tl.load(base + r0 * Wp + c2, mask=inside & rx2, other=0.0)
    acc += tl.load(base + r1 * Wp + c0, mask=inside & ry1, other=0.0)
    acc += tl.load(base + r1 * Wp + c1, mask=inside & ry1 & rx1, other=0.0)
    acc += tl.load(base + r1 * Wp + c2, mask=inside & ry1 & rx2, other=0.0)
    acc += tl.load(base + r2 * Wp + c0, mask=inside & ry2, other=0.0)
    acc += tl.load(base + r2 * Wp + c1, mask=inside & ry2 & rx1, other=0.0)
    acc += tl.load(base + r2 * Wp + c2, mask=inside & ry2 & rx2, other=0.0)
    tl.store(gx_ptr + offs, acc, mask=inside)


@triton.jit(do_not_specialize=_unspecialised(
    "B C_in H W C_out Ho Wo cin_g K top left reflect relu pool cout_g per_split split_stride"))
def _grad_weight(x_ptr, g_ptr, y_ptr, arg_ptr, gw_ptr, gb_ptr, B, C_in, H, W, C_out, Ho, Wo,
                 cin_g, K, top, left, reflect, relu, pool, cout_g, per_split, split_stride,
                 TAPS: tl.constexpr,
                 BLOCK: tl.constexpr):
    row = tl.program_id(0)  # output channel * cin_g + input channel of its group
    split = tl.program_id(1)
    t0 = tl.program_id(2) * TAPS  # this program's share of the taps
    oc = row // cin_g
    ci = row % cin_g
    group = oc // cout_g
    b_lo = split * per_split
    b_hi = tl.minimum(b_lo + per_split, B)
    pixels = tl.arange(0, BLOCK)
    taps = t0 + tl.arange(0, TAPS)
    tap_in = taps < K * K
    dy = taps // K
    dx = taps % K
    acc = tl.zeros([TAPS, BLOCK], dtype=tl.float32)
    acc_bias = tl.zeros([BLOCK], dtype=tl.float32)
    for b in range(b_lo, b_hi):
        x_plane = _input_plane(x_ptr, b, C_in, group, cin_g, ci, H, W)
        for p0 in range(0, Ho * Wo, BLOCK):
            offs = p0 + pixels
            inside = offs < Ho * Wo
            g = _output_grad(g_ptr, y_ptr, arg_ptr, b * C_out + oc, offs // Wo, offs % Wo, Ho,
                             Wo, inside, relu, pool)
            acc_bias += g
            sy, vy = _source((offs // Wo)[None, :] + dy[:, None] - top, H, reflect)
            sx, vx = _source((offs % Wo)[None, :] + dx[:, None] - left, W, reflect)
            m = tap_in[:, None] & inside[None, :]
            acc += _pixel(x_plane, W, sy, vy, sx, vx, m) * g[None, :]
    out = gw_ptr + split * split_stride + row * K * K
    tl.store(out + taps, tl.sum(acc, axis=1), mask=tap_in)
    tl.store(gb_ptr + split * split_stride + oc, tl.sum(acc_bias, axis=0),
             mask=(ci == 0) & (t0 == 0))
