"""The Triton kernel of `training.accel.batched_program`'s end of an epoch (imported on first use
on a GPU).

One program per model does what `EpochProgram._end_epoch_torch` does with about fifty small torch
operations: accuracies, the divergence check, early stopping, the best accuracy (and the best
weights with `KEEP_BEST`), the epochs done and the history row. Means of the losses are summed
in float64, as torch's, in blocks of `BLOCK` (another order: the last bit may differ).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

BLOCK = 256  # losses (and with keep_best, weights) per block of a program's loops


@triton.jit
def _mean_and_finite(ptr, count, BLOCK: tl.constexpr):
    """The float64 mean of `count` float32 numbers and whether all of them are finite."""
    total = tl.zeros((BLOCK,), dtype=tl.float64)
    finite = tl.full((BLOCK,), 1, dtype=tl.int32)
    for lo in range(0, count, BLOCK):
        offs = lo + tl.arange(0, BLOCK)
        inside = offs < count
        x = tl.load(ptr + offs, mask=inside, other=0.0)
        total += x.to(tl.float64)
        ok = (x == x) & (tl.abs(x) != float("inf"))
        finite = tl.minimum(finite, tl.where(inside & ~ok, 0, 1))
    # times the reciprocal, as torch's mean on a GPU
    return tl.sum(total, axis=0) * (1.0 / count.to(tl.float64)), tl.min(finite, axis=0) == 1


@triton.jit
def _copy_row(src_ptr, dst_ptr, count, BLOCK: tl.constexpr):
    for lo in range(0, count, BLOCK):
        offs = lo + tl.arange(0, BLOCK)
        inside = offs < count
        tl.store(dst_ptr + offs, tl.load(src_ptr + offs, mask=inside), mask=inside)


@triton.jit(do_not_specialize=["NB", "NT", "N", "P", "E", "train_seen", "test_seen"])
def _end_epoch(train_loss_ptr, test_loss_ptr, train_right_ptr, test_right_ptr, active_ptr,
               epoch_ptr, diverged_ptr, stopped_ptr, done_ptr, best_acc_ptr, on_ptr,
               patience_ptr, delta_ptr, sign_ptr, monitor_ptr, es_best_ptr, es_epoch_ptr,
               es_bad_ptr, history_ptr, flat_ptr, best_ptr, NB, NT, N, P, E, train_seen, test_seen,
               KEEP_BEST: tl.constexpr, BLOCK: tl.constexpr):
    n = tl.program_id(0).to(tl.int64)  # 64-bit offsets below
    epoch = tl.load(epoch_ptr)
    active = tl.load(active_ptr + n) != 0
    train_mean, train_finite = _mean_and_finite(train_loss_ptr + n * NB, NB, BLOCK)
    test_mean, test_finite = _mean_and_finite(test_loss_ptr + n * NT, NT, BLOCK)
    train_right = tl.load(train_right_ptr + n)
    test_right = tl.load(test_right_ptr + n)
    # times the reciprocal, as torch divides a CUDA tensor by a number
    train_acc = (100.0 * train_right.to(tl.float64)) * (1.0 / train_seen.to(tl.float64))
    test_acc = (100.0 * test_right.to(tl.float64)) * (1.0 / test_seen.to(tl.float64))
    blown = active & ~(train_finite & test_finite)
    tl.store(diverged_ptr + n, (tl.load(diverged_ptr + n) != 0) | blown)
    monitor = tl.load(monitor_ptr + n)  # MONITOR_ORDER: test loss, test acc, train loss, acc
    seen = tl.where(monitor == 2, train_mean, train_acc)
    seen = tl.where(monitor == 0, test_mean, tl.where(monitor == 1, test_acc, seen))
    value = tl.load(sign_ptr + n) * seen
    watch = active & (tl.load(on_ptr + n) != 0)
    es_best = tl.load(es_best_ptr + n)
    improved = watch & (value < es_best - tl.load(delta_ptr + n))
    tl.store(es_best_ptr + n, tl.where(improved, value, es_best))
    tl.store(es_epoch_ptr + n, tl.where(improved, epoch + 1, tl.load(es_epoch_ptr + n)))
    bad = tl.where(improved, 0, tl.load(es_bad_ptr + n) + watch.to(tl.int64))
    tl.store(es_bad_ptr + n, bad)
    best_acc = tl.load(best_acc_ptr + n)
    better = active & (test_acc > best_acc)
    tl.store(best_acc_ptr + n, tl.where(better, test_acc, best_acc))
    if KEEP_BEST:  # noqa: SIM102 (a compile-time branch around a run-time one)
        if better:
            _copy_row(flat_ptr + n * P, best_ptr + n * P, P, BLOCK)
    halt = (watch & (bad >= tl.load(patience_ptr + n))) | blown
    tl.store(stopped_ptr + n, (tl.load(stopped_ptr + n) != 0) | halt)
    tl.store(done_ptr + n, tl.load(done_ptr + n) + active.to(tl.int64))
    if epoch < E:  # the history's rows (torch's index_copy_ would raise beyond them)
        row = history_ptr + (epoch * N + n) * (NB + NT + 2)
        _copy_row(train_loss_ptr + n * NB, row, NB, BLOCK)
        _copy_row(test_loss_ptr + n * NT, row + NB, NT, BLOCK)
        tl.store(row + NB + NT, train_right.to(tl.float32))
        tl.store(row + NB + NT + 1, test_right.to(tl.float32))


def end_epoch(program, active: torch.Tensor, train_losses: torch.Tensor,
              train_correct: torch.Tensor, test_losses: torch.Tensor,
              test_correct: torch.Tensor) -> None:
    """`program._end_epoch`'s work on its tensors in one launch (`program.epoch` not advanced)."""
    p = program
    n, nb = train_losses.shape
    flat = p.models.flat
    best = p.best if p.best is not None else flat
    _end_epoch[(n,)](train_losses, test_losses, train_correct, test_correct, active, p.epoch,
                     p.diverged, p.stopped, p.epochs_done, p.best_acc, p.es_on, p.es_patience,
                     p.es_delta, p.es_sign, p.es_monitor, p.es_best, p.es_best_epoch, p.es_bad,
                     p.history, flat, best, nb, test_losses.shape[1], n, flat.shape[1],
                     p.history.shape[0], p.train_seen, p.test_seen,
                     KEEP_BEST=p.best is not None, BLOCK=BLOCK)
