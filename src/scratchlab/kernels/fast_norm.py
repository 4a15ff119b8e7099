"""The Triton kernels of `models.fast_norm.batch_norm_gelu` (imported on first use on a GPU).

A channels-last (N, C, H, W) tensor lies in memory as a (rows = N * H * W, C) matrix; every
kernel walks tiles of it, channels innermost. Forward: `_partial_stats` (each program: the mean
and the sum of squared deviations of its rows, per channel), `_finish_stats` (those combined by
Chan's rule into the batch mean and 1 / std, and the running statistics updated), `_apply`
(normalise, scale, shift, exact GELU). Backward: `_partial_grads` (each program: the sums of the
gradient through GELU and of its product with the normalised input), `_input_grad`.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from scratchlab.kernels.support import on_device

BLOCK_R = 64  # rows of a tile
BLOCK_C = 64  # channels of a tile
PROGRAMS = 256  # programs over the rows in the reductions (a few per SM of an H100)
RSQRT2 = tl.constexpr(0.7071067811865476)  # 1 / sqrt(2)
RSQRT2PI = tl.constexpr(0.3989422804014327)  # 1 / sqrt(2 pi)


@triton.jit
def _tile(rows, cols, R, C):
    """Memory offsets of a (rows, cols) tile and the mask of those inside the matrix."""
    return rows[:, None] * C + cols[None, :], (rows[:, None] < R) & (cols[None, :] < C)


@triton.jit
def _rows_and_cols(R, C, per_program, BLOCK_C: tl.constexpr):
    """A reduction program's rows [first, last) and its channels."""
    first = tl.program_id(0) * per_program
    cols = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    return first, tl.minimum(first + per_program, R), cols


@triton.jit
def _program_tile(R, C, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    """An elementwise program's tile: offsets, mask, its channels and which exist."""
    cols = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    offs, mask = _tile(tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R), cols, R, C)
    return offs, mask, cols, cols < C


@triton.jit
def _parts(start, cols, R, C, P, per_program, BLOCK_P: tl.constexpr):
    """Offsets and mask of the reduction programs' partials start.. (P of them), and the rows
    each one covered."""
    parts = start + tl.arange(0, BLOCK_P)
    offs, mask = _tile(parts, cols, P, C)
    return offs, mask, tl.minimum(R - parts * per_program, per_program).to(tl.float32)


@triton.jit
def _gelu_parts(x, mean, rstd, w, b):
    """Per element: the normalised input, the GELU input u, Phi(u) and u * phi(u)."""
    xhat = (x - mean[None, :]) * rstd[None, :]
    u = xhat * w[None, :] + b[None, :]
    cdf = 0.5 * (1.0 + tl.math.erf(u * RSQRT2))
    return xhat, u, cdf, u * tl.exp(-0.5 * u * u) * RSQRT2PI


@triton.jit(do_not_specialize=["R", "per_program"])
def _partial_stats(x_ptr, pmean_ptr, pm2_ptr, R, C, per_program,
                   BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    first, last, cols = _rows_and_cols(R, C, per_program, BLOCK_C)
    mean = tl.zeros([BLOCK_C], dtype=tl.float32)
    m2 = tl.zeros([BLOCK_C], dtype=tl.float32)
    for start in range(first, last, BLOCK_R):
        offs, mask = _tile(start + tl.arange(0, BLOCK_R), cols, last, C)
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        n = tl.minimum(last - start, BLOCK_R).to(tl.float32)
        seen = (start - first).to(tl.float32)
        tile_mean = tl.sum(x, axis=0) / n
        dev = tl.where(mask, x - tile_mean[None, :], 0.0)
        delta = tile_mean - mean
        mean += delta * (n / (seen + n))
        m2 += tl.sum(dev * dev, axis=0) + delta * delta * (seen * n / (seen + n))
    out = tl.program_id(0) * C + cols
    tl.store(pmean_ptr + out, mean, mask=cols < C)
    tl.store(pm2_ptr + out, m2, mask=cols < C)


@triton.jit(do_not_specialize=["R", "P", "per_program", "eps", "momentum"])
def _finish_stats(pmean_ptr, pm2_ptr, mean_ptr, rstd_ptr, rmean_ptr, rvar_ptr, R, C, P,
                  per_program, eps, momentum, UPDATE: tl.constexpr, BLOCK_P: tl.constexpr,
                  BLOCK_C: tl.constexpr):
    cols = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    weighted = tl.zeros([BLOCK_C], dtype=tl.float32)
    for start in range(0, P, BLOCK_P):  # the mean: the programs' means weighted by their rows
        offs, mask, n = _parts(start, cols, R, C, P, per_program, BLOCK_P)
        part_mean = tl.load(pmean_ptr + offs, mask=mask, other=0.0)
        weighted += tl.sum(tl.where(mask, part_mean * n[:, None], 0.0), axis=0)
    mean = weighted / R
    m2 = tl.zeros([BLOCK_C], dtype=tl.float32)
    for start in range(0, P, BLOCK_P):  # squared deviations within and between the programs
        offs, mask, n = _parts(start, cols, R, C, P, per_program, BLOCK_P)
        delta = tl.load(pmean_ptr + offs, mask=mask, other=0.0) - mean[None, :]
        part_m2 = tl.load(pm2_ptr + offs, mask=mask, other=0.0)
        m2 += tl.sum(tl.where(mask, part_m2 + delta * delta * n[:, None], 0.0), axis=0)
    inside = cols < C
    tl.store(mean_ptr + cols, mean, mask=inside)
    tl.store(rstd_ptr + cols, tl.rsqrt(m2 / R + eps), mask=inside)
    if UPDATE:  # torch's rule: the running variance is the unbiased one
        running_mean = tl.load(rmean_ptr + cols, mask=inside).to(tl.float32)
        running_var = tl.load(rvar_ptr + cols, mask=inside).to(tl.float32)
        unbiased = m2 / tl.maximum(R - 1, 1)
        new_mean = running_mean + momentum * (mean - running_mean)
        new_var = running_var + momentum * (unbiased - running_var)
        tl.store(rmean_ptr + cols, new_mean.to(rmean_ptr.dtype.element_ty), mask=inside)
        tl.store(rvar_ptr + cols, new_var.to(rvar_ptr.dtype.element_ty), mask=inside)


@triton.jit(do_not_specialize=["R"])
def _apply(x_ptr, y_ptr, mean_ptr, rstd_ptr, w_ptr, b_ptr, R, C,
           BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    offs, mask, cols, inside = _program_tile(R, C, BLOCK_R, BLOCK_C)
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    _, u, cdf, _ = _gelu_parts(x, tl.load(mean_ptr + cols, mask=inside),
                               tl.load(rstd_ptr + cols, mask=inside),
                               tl.load(w_ptr + cols, mask=inside).to(tl.float32),
                               tl.load(b_ptr + cols, mask=inside).to(tl.float32))
    tl.store(y_ptr + offs, (u * cdf).to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit(do_not_specialize=["R", "per_program"])
def _partial_grads(dz_ptr, x_ptr, mean_ptr, rstd_ptr, w_ptr, b_ptr, psum_ptr, R, C, per_program,
                   BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    first, last, cols = _rows_and_cols(R, C, per_program, BLOCK_C)
    inside = cols < C
    mean, rstd = tl.load(mean_ptr + cols, mask=inside), tl.load(rstd_ptr + cols, mask=inside)
    w = tl.load(w_ptr + cols, mask=inside).to(tl.float32)
    b = tl.load(b_ptr + cols, mask=inside).to(tl.float32)
    sum_dy = tl.zeros([BLOCK_C], dtype=tl.float32)
    sum_dy_xhat = tl.zeros([BLOCK_C], dtype=tl.float32)
    for start in range(first, last, BLOCK_R):
        offs, mask = _tile(start + tl.arange(0, BLOCK_R), cols, last, C)
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        dz = tl.load(dz_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        xhat, _, cdf, u_pdf = _gelu_parts(x, mean, rstd, w, b)
        dy = tl.where(mask, dz * (cdf + u_pdf), 0.0)
        sum_dy += tl.sum(dy, axis=0)
        sum_dy_xhat += tl.sum(dy * xhat, axis=0)
    out = tl.program_id(0) * 2 * C + cols
    tl.store(psum_ptr + out, sum_dy, mask=inside)
    tl.store(psum_ptr + out + C, sum_dy_xhat, mask=inside)


@triton.jit(do_not_specialize=["R"])
def _input_grad(dz_ptr, x_ptr, dx_ptr, mean_ptr, rstd_ptr, w_ptr, b_ptr, sums_ptr, R, C,
                BATCH_STATS: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    offs, mask, cols, inside = _program_tile(R, C, BLOCK_R, BLOCK_C)
    rstd = tl.load(rstd_ptr + cols, mask=inside)
    w = tl.load(w_ptr + cols, mask=inside).to(tl.float32)
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    dz = tl.load(dz_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    xhat, _, cdf, u_pdf = _gelu_parts(x, tl.load(mean_ptr + cols, mask=inside), rstd, w,
                                      tl.load(b_ptr + cols, mask=inside).to(tl.float32))
    dy = dz * (cdf + u_pdf)
    if BATCH_STATS:  # the batch's mean and variance depend on every input too
        mean_dy = tl.load(sums_ptr + cols, mask=inside) / R
        mean_dy_xhat = tl.load(sums_ptr + C + cols, mask=inside) / R
        dy = dy - mean_dy[None, :] - xhat * mean_dy_xhat[None, :]
    dx = dy * (w * rstd)[None, :]
    tl.store(dx_ptr + offs, dx.to(dx_ptr.dtype.element_ty), mask=mask)


def _split(rows: int) -> tuple[int, int]:
    """(rows per program, programs) of a reduction over `rows`."""
    per_program = triton.cdiv(triton.cdiv(rows, PROGRAMS), BLOCK_R) * BLOCK_R
    return per_program, triton.cdiv(rows, per_program)


def batch_stats(x: torch.Tensor, eps: float, running: tuple[torch.Tensor, torch.Tensor] | None,
                momentum: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, 1 / std) per channel of a channels-last tensor, float32; `running` (mean, var)
    moved by `momentum` towards the batch's mean and unbiased variance, in place."""
    n, c, h, w = x.shape
    rows = n * h * w
    per_program, programs = _split(rows)
    partial = torch.empty((2, programs, c), dtype=torch.float32, device=x.device)
    mean, rstd = torch.empty((2, c), dtype=torch.float32, device=x.device)
    rmean, rvar = running if running is not None else (mean, rstd)  # not written then
    with on_device(x.device):
        _partial_stats[(programs, triton.cdiv(c, BLOCK_C))](
            x, partial[0], partial[1], rows, c, per_program, BLOCK_R=BLOCK_R, BLOCK_C=BLOCK_C)
        _finish_stats[(triton.cdiv(c, BLOCK_C),)](
            partial[0], partial[1], mean, rstd, rmean, rvar, rows, c, programs, per_program,
            eps, momentum, UPDATE=running is not None, BLOCK_P=32, BLOCK_C=BLOCK_C)
    return mean, rstd


def normalize_gelu(x: torch.Tensor, mean: torch.Tensor, rstd: torch.Tensor, weight: torch.Tensor,
                   bias: torch.Tensor) -> torch.Tensor:
    """GELU((x - mean) * rstd * weight + bias) of a channels-last tensor, in its dtype."""
    n, c, h, w = x.shape
    y = torch.empty_like(x, memory_format=torch.channels_last)
    with on_device(x.device):
        _apply[(triton.cdiv(n * h * w, BLOCK_R), triton.cdiv(c, BLOCK_C))](
            x, y, mean, rstd, weight, bias, n * h * w, c, BLOCK_R=BLOCK_R, BLOCK_C=BLOCK_C)
    return y


def gradients(dz: torch.Tensor, x: torch.Tensor, mean: torch.Tensor, rstd: torch.Tensor,
              weight: torch.Tensor, bias: torch.Tensor, batch_stats: bool
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input, weight, bias) gradients of `normalize_gelu` for output gradient `dz`; with
    `batch_stats`, through the batch statistics too."""
    n, c, h, w = x.shape
    rows = n * h * w
    dz = dz.contiguous(memory_format=torch.channels_last)
    per_program, programs = _split(rows)
    partial = torch.empty((programs, 2, c), dtype=torch.float32, device=x.device)
    dx = torch.empty_like(x, memory_format=torch.channels_last)
    with on_device(x.device):
        _partial_grads[(programs, triton.cdiv(c, BLOCK_C))](
            dz, x, mean, rstd, weight, bias, partial, rows, c, per_program,
            BLOCK_R=BLOCK_R, BLOCK_C=BLOCK_C)
        sums = partial.sum(0)  # (2, C): sum of dy, sum of dy * xhat
        _input_grad[(triton.cdiv(rows, BLOCK_R), triton.cdiv(c, BLOCK_C))](
            dz, x, dx, mean, rstd, weight, bias, sums, rows, c, BATCH_STATS=batch_stats,
            BLOCK_R=BLOCK_R, BLOCK_C=BLOCK_C)
    return dx, sums[1].to(weight.dtype), sums[0].to(bias.dtype)
