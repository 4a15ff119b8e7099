"""The Triton kernels of `models.stacked_loss` (imported on first use on a GPU).

Scores `(N, B, C)` float32, contiguous, and labels `(N, B)` int64, any strides. The forward
kernel gives each model (one program) its per-sample losses, their mean and its correct count; the
backward kernel gives the gradient of the scores from the gradients of the per-sample losses and
of the means.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

ROWS = 64  # samples per block
CLASSES = 16  # most classes the kernels take


@triton.jit
def _log_softmax_rows(s_ptr, y_ptr, n, rows, B, C, y_n, y_b, CLASSES: tl.constexpr):
    """Scores of `rows` of model `n` (padded classes at -inf), their labels, the log of the sum
    of their exponentials and the masks."""
    cols = tl.arange(0, CLASSES)
    row_in = rows < B
    mask = row_in[:, None] & (cols < C)[None, :]
    s = tl.load(s_ptr + (n * B + rows)[:, None] * C + cols[None, :], mask=mask,
                other=float("-inf"))
    top = tl.max(s, axis=1)
    lse = top + tl.log(tl.sum(tl.exp(s - top[:, None]), axis=1))
    y = tl.load(y_ptr + n * y_n + rows * y_b, mask=row_in, other=0)
    return s, y, top, lse, cols, row_in, mask


@triton.jit(do_not_specialize=["B", "C", "y_n", "y_b"])
def _forward(s_ptr, y_ptr, loss_ptr, mean_ptr, correct_ptr, B, C, y_n, y_b, smoothing,
             ROWS: tl.constexpr, CLASSES: tl.constexpr):
    n = tl.program_id(0)
    total = tl.zeros([ROWS], dtype=tl.float32)
    right = tl.zeros([ROWS], dtype=tl.int32)
    for b0 in range(0, B, ROWS):
        rows = b0 + tl.arange(0, ROWS)
        s, y, top, lse, cols, row_in, mask = _log_softmax_rows(s_ptr, y_ptr, n, rows, B, C,
                                                               y_n, y_b, CLASSES)
        picked = tl.sum(tl.where(cols[None, :] == y[:, None], s, 0.0), axis=1)
        loss = lse - picked
        if smoothing != 0:  # torch's rule: (1 - e) * nll + e * mean over classes of -log p
            spread = lse - tl.sum(tl.where(mask, s, 0.0), axis=1) / C
            loss = (1 - smoothing) * loss + smoothing * spread
        loss = tl.where((y < 0) | (y >= C), float("nan"), loss)  # a label out of range
        tl.store(loss_ptr + n * B + rows, loss, mask=row_in)
        total += tl.where(row_in, loss, 0.0)
        first_top = tl.min(tl.where(mask & (s == top[:, None]), cols[None, :], CLASSES), axis=1)
        first_nan = tl.min(tl.where(mask & (s != s), cols[None, :], CLASSES), axis=1)
        guess = tl.where(first_nan < CLASSES, first_nan, first_top)  # as argmax: NaN is largest
        right += (row_in & (guess == y)).to(tl.int32)
    tl.store(mean_ptr + n, tl.sum(total, axis=0) / B)
    tl.store(correct_ptr + n, tl.sum(right, axis=0).to(tl.int64))


@triton.jit(do_not_specialize=["B", "C", "y_n", "y_b", "has_loss_grad", "has_mean_grad"])
def _backward(s_ptr, y_ptr, g_loss_ptr, g_mean_ptr, gs_ptr, B, C, y_n, y_b, smoothing,
              has_loss_grad,
              has_mean_grad, ROWS: tl.constexpr, CLASSES: tl.constexpr):
    n = tl.program_id(0)
    rows = tl.program_id(1) * ROWS + tl.arange(0, ROWS)
    s, y, _, lse, cols, row_in, mask = _log_softmax_rows(s_ptr, y_ptr, n, rows, B, C, y_n, y_b,
                                                         CLASSES)
    g = tl.zeros([ROWS], dtype=tl.float32)
    if has_mean_grad != 0:
        g += tl.load(g_mean_ptr + n) / B
    if has_loss_grad != 0:
        g += tl.load(g_loss_ptr + n * B + rows, mask=row_in, other=0.0)
    target = tl.where(cols[None, :] == y[:, None], 1.0 - smoothing, 0.0) + smoothing / C
    grad = g[:, None] * (tl.exp(s - lse[:, None]) - target)
    grad = tl.where(((y < 0) | (y >= C))[:, None], float("nan"), grad)  # a label out of range
    tl.store(gs_ptr + (n * B + rows)[:, None] * C + cols[None, :], grad, mask=mask)


def forward(scores: torch.Tensor, labels: torch.Tensor, smoothing: float
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sample losses `(N, B)`, their means `(N,)` and correct counts `(N,)`."""
    n, b, c = scores.shape
    losses = torch.empty((n, b), device=scores.device, dtype=scores.dtype)
    means = torch.empty(n, device=scores.device, dtype=scores.dtype)
    correct = torch.empty(n, device=scores.device, dtype=torch.long)
    _forward[(n,)](scores, labels, losses, means, correct, b, c, *labels.stride(),
                   float(smoothing), ROWS=ROWS, CLASSES=CLASSES)
    return losses, means, correct


def backward(scores: torch.Tensor, labels: torch.Tensor, smoothing: float,
             loss_grad: torch.Tensor | None, mean_grad: torch.Tensor | None) -> torch.Tensor:
    """The gradient of the scores."""
    n, b, c = scores.shape
    grad = torch.empty_like(scores)
    dummy = scores
    _backward[(n, triton.cdiv(b, ROWS))](
        scores, labels, dummy if loss_grad is None else loss_grad,
        dummy if mean_grad is None else mean_grad, grad, b, c, *labels.stride(), float(smoothing),
        int(loss_grad is not None), int(mean_grad is not None), ROWS=ROWS, CLASSES=CLASSES)
    return grad
