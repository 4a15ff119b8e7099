"""The Triton kernels of `models.tiny_head` (imported on first use on a GPU).

Maps `(B, N * F, H, W)` float32, contiguous: N models' F channels side by side. Weights `(N, O,
F)` and biases `(N, O)` with each model's own contiguous (views of one row per model are read in
place). The forward kernel (one program per sample and model) averages the model's maps and
applies its linear layer; the backward kernels give the maps' gradient (one program per sample and
model) and the weight and bias gradients (one program per model).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

FEATURES = 16  # most channels per model the kernels take
OUTPUTS = 16  # most outputs per model
PIXELS = 256  # pixels per pass
ROWS = 16  # samples per pass of the weight gradient


@triton.jit(do_not_specialize=["B", "N", "F", "O", "HW", "has_bias", "w_stride", "b_stride"])
def _forward(m_ptr, w_ptr, b_ptr, s_ptr, pooled_ptr, B, N, F, O, HW, has_bias, w_stride, b_stride,
             FEATURES: tl.constexpr, OUTPUTS: tl.constexpr, PIXELS: tl.constexpr):
    pid = tl.program_id(0)  # sample * N + model
    n = pid % N
    b = pid // N
    fs = tl.arange(0, FEATURES)
    f_in = fs < F
    acc = tl.zeros([FEATURES, PIXELS], dtype=tl.float32)
    for p0 in range(0, HW, PIXELS):
        px = p0 + tl.arange(0, PIXELS)
        at = (pid * F + fs)[:, None] * HW + px[None, :]
        acc += tl.load(m_ptr + at, mask=f_in[:, None] & (px < HW)[None, :], other=0.0)
    pooled = tl.sum(acc, axis=1) / HW
    tl.store(pooled_ptr + (n * B + b) * F + fs, pooled, mask=f_in)
    os = tl.arange(0, OUTPUTS)
    o_in = os < O
    w = tl.load(w_ptr + n * w_stride + os[:, None] * F + fs[None, :],
                mask=o_in[:, None] & f_in[None, :], other=0.0)
    scores = tl.sum(w * pooled[None, :], axis=1)
    if has_bias != 0:
        scores += tl.load(b_ptr + n * b_stride + os, mask=o_in, other=0.0)
    tl.store(s_ptr + (n * B + b) * O + os, scores, mask=o_in)


@triton.jit(do_not_specialize=["B", "N", "F", "O", "HW", "w_stride"])
def _grad_maps(g_ptr, w_ptr, gm_ptr, B, N, F, O, HW, w_stride, FEATURES: tl.constexpr,
               OUTPUTS: tl.constexpr, PIXELS: tl.constexpr):
    pid = tl.program_id(0)  # sample * N + model
    n = pid % N
    b = pid // N
    fs = tl.arange(0, FEATURES)
    f_in = fs < F
    os = tl.arange(0, OUTPUTS)
    o_in = os < O
    g = tl.load(g_ptr + (n * B + b) * O + os, mask=o_in, other=0.0)
    w = tl.load(w_ptr + n * w_stride + os[:, None] * F + fs[None, :],
                mask=o_in[:, None] & f_in[None, :], other=0.0)
    per_pixel = tl.sum(w * g[:, None], axis=0) / HW
    for p0 in range(0, HW, PIXELS):
        px = p0 + tl.arange(0, PIXELS)
        at = (pid * F + fs)[:, None] * HW + px[None, :]
        value = tl.zeros([FEATURES, PIXELS], dtype=tl.float32) + per_pixel[:, None]
        tl.store(gm_ptr + at, value, mask=f_in[:, None] & (px < HW)[None, :])


@triton.jit(do_not_specialize=["B", "F", "O"])
def _grad_weight(g_ptr, pooled_ptr, gw_ptr, gb_ptr, B, F, O, FEATURES: tl.constexpr,
                 OUTPUTS: tl.constexpr, ROWS: tl.constexpr):
    n = tl.program_id(0)
    fs = tl.arange(0, FEATURES)
    f_in = fs < F
    os = tl.arange(0, OUTPUTS)
    o_in = os < O
    gw = tl.zeros([OUTPUTS, FEATURES], dtype=tl.float32)
    gb = tl.zeros([OUTPUTS], dtype=tl.float32)
    for r0 in range(0, B, ROWS):
        rows = r0 + tl.arange(0, ROWS)
        r_in = rows < B
        g = tl.load(g_ptr + (n * B + rows)[:, None] * O + os[None, :],
                    mask=r_in[:, None] & o_in[None, :], other=0.0)
        p = tl.load(pooled_ptr + (n * B + rows)[:, None] * F + fs[None, :],
                    mask=r_in[:, None] & f_in[None, :], other=0.0)
        gw += tl.sum(g[:, :, None] * p[:, None, :], axis=0)
        gb += tl.sum(g, axis=0)
    tl.store(gw_ptr + n * O * F + os[:, None] * F + fs[None, :], gw,
             mask=o_in[:, None] & f_in[None, :])
    tl.store(gb_ptr + n * O + os, gb, mask=o_in)


def forward(maps: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores `(N, B, O)` and the averaged maps `(N, B, F)`."""
    n, o, f = weight.shape
    b, hw = maps.shape[0], maps.shape[2] * maps.shape[3]
    scores = torch.empty((n, b, o), device=maps.device, dtype=maps.dtype)
    pooled = torch.empty((n, b, f), device=maps.device, dtype=maps.dtype)
    b_stride = 0 if bias is None else bias.stride(0)
    _forward[(b * n,)](maps, weight, weight if bias is None else bias, scores, pooled, b, n, f, o,
                       hw, int(bias is not None), weight.stride(0), b_stride, FEATURES=FEATURES,
                       OUTPUTS=OUTPUTS, PIXELS=PIXELS)
    return scores, pooled


def backward(grad: torch.Tensor, weight: torch.Tensor, pooled: torch.Tensor,
             maps_shape: torch.Size, maps_grad: bool
             ) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """Gradients of the maps (when `maps_grad`), the weight and the bias."""
    n, o, f = weight.shape
    b, hw = maps_shape[0], maps_shape[2] * maps_shape[3]
    gm = None
    if maps_grad:
        gm = torch.empty(maps_shape, device=grad.device, dtype=grad.dtype)
        _grad_maps[(b * n,)](grad, weight, gm, b, n, f, o, hw, weight.stride(0),
                             FEATURES=FEATURES, OUTPUTS=OUTPUTS, PIXELS=PIXELS)
    gw = torch.empty(weight.shape, device=grad.device, dtype=grad.dtype)
    gb = torch.empty((n, o), device=grad.device, dtype=grad.dtype)
    _grad_weight[(n,)](grad, pooled, gw, gb, b, f, o, FEATURES=FEATURES, OUTPUTS=OUTPUTS,
                       ROWS=ROWS)
    return gm, gw, gb
