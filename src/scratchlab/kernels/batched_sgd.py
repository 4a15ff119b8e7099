"""The Triton kernel of `training.accel.batched_optim`'s SGD step (imported on first use on a GPU).

One pass over the `(N, P)` parameters, gradients and momentum buffers of N models, each row with
its own factors `(N, 1)`: weight decay, then the buffer, then the parameter, in torch.optim's
order (a model whose `active` factor is 0 keeps all of them), and the step counts.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

BLOCK = 1024


@triton.jit(do_not_specialize=["P", "nesterov", "decay"])
def _sgd(p_ptr, g_ptr, buf_ptr, keep_ptr, a_ptr, neg_lr_ptr, momentum_ptr, wd_ptr, steps_ptr,
         a64_ptr, P, nesterov, decay, BLOCK: tl.constexpr):
    n = tl.program_id(0)
    if tl.program_id(1) == 0:  # the model's step count (float64), by its first program
        tl.store(steps_ptr + n, tl.load(steps_ptr + n) + tl.load(a64_ptr + n))
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    inside = offs < P
    at = n * P + offs
    p = tl.load(p_ptr + at, mask=inside)
    g = tl.load(g_ptr + at, mask=inside)
    if decay != 0:
        g = g + p * tl.load(wd_ptr + n)
    buf = tl.load(buf_ptr + at, mask=inside) * tl.load(keep_ptr + n) + g * tl.load(a_ptr + n)
    tl.store(buf_ptr + at, buf, mask=inside)
    step = buf
    if nesterov != 0:
        step = g + buf * tl.load(momentum_ptr + n)
    tl.store(p_ptr + at, p + step * tl.load(neg_lr_ptr + n), mask=inside)


def sgd(p: torch.Tensor, g: torch.Tensor, buf: torch.Tensor, keep: torch.Tensor, a: torch.Tensor,
        neg_lr: torch.Tensor, momentum: torch.Tensor, wd: torch.Tensor, steps: torch.Tensor,
        a64: torch.Tensor, nesterov: bool, decay: bool) -> None:
    """SGD with momentum (no dampening) on every row of `p` in place, `buf` updated and `a64`
    (1 for an active model, else 0) added to `steps`."""
    n, size = p.shape
    _sgd[(n, triton.cdiv(size, BLOCK))](p, g, buf, keep, a, neg_lr, momentum, wd, steps, a64,
                                        size, int(nesterov), int(decay), BLOCK=BLOCK)
