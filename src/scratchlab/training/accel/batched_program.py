"""One epoch of N models on the device: every train step, the evaluation, early stopping, history.

`EpochProgram.run()` only touches tensors it owns and never waits for the host, so it can be
replayed as a CUDA graph (`batched.BatchedFit`). History row per model: train losses, test
losses, train and test correct counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from scratchlab.errors import ConfigError
from scratchlab.models.stacked import StackedModels
from scratchlab.models.stacked_loss import stacked_cross_entropy
from scratchlab.training.accel.batched_optim import BatchedOptimizer
from scratchlab.training.accel.batched_state import StackedData
from scratchlab.training.callbacks import MONITORS, EarlyStopping

MONITOR_ORDER = ("test_loss", "test_acc", "train_loss", "train_acc")
EVAL_ELEMENTS = 2**24  # at most this many input numbers per evaluation chunk (bounds memory)


class EpochProgram:
    """The device-side state and work of one epoch of every model (see module docstring)."""

    def __init__(self, models: StackedModels, optimizer: BatchedOptimizer, train: StackedData,
                 test: StackedData, epochs: Sequence[int],
                 stoppers: Sequence[EarlyStopping | None], max_batches: int | None,
                 label_smoothing: float = 0.0, keep_best: bool = False) -> None:
        device = train.x.device
        n = models.count
        self.models, self.optimizer, self.train, self.test = models, optimizer, train, test
        self.label_smoothing = label_smoothing
        self.train_batches = train.batches(max_batches)
        self.test_batches = test.batches(max_batches)
        with torch.no_grad():
            scores = models(test.slice(0, 1)[0])
        if scores.dim() != 3 or scores.shape[-1] < 2:
            raise ConfigError("the batched trainer needs class scores (batch, classes >= 2) from "
                              f"each model, got {tuple(scores.shape[1:])}")
        self.train_seen = self.train_batches[-1][1]
        self.test_seen = self.test_batches[-1][1]
        step = max(1, EVAL_ELEMENTS // (n * max(1, test.x[0, 0].numel())))
        self.eval_chunks = [(lo, min(lo + step, self.test_seen))
                            for lo in range(0, self.test_seen, step)]
        self.order = torch.arange(train.size, device=device)[:, None].repeat(1, n)  # (S, N)
        self.ones = torch.ones(n, device=device, dtype=models.flat.dtype)  # d(sum of losses)
        self.epoch = torch.zeros((), dtype=torch.long, device=device)
        self.max_epochs = torch.tensor(list(epochs), dtype=torch.long, device=device)
        self.epochs_done = torch.zeros(n, dtype=torch.long, device=device)
        self.stopped = torch.zeros_like(self.epochs_done, dtype=torch.bool)
        self.diverged = torch.zeros_like(self.stopped)
        self.best_acc = torch.full((n,), -torch.inf, dtype=torch.float64, device=device)
        self.best = models.flat.detach().clone() if keep_best else None
        width = len(self.train_batches) + len(self.test_batches) + 2
        self.history = torch.full((max(epochs), n, width), torch.nan, dtype=torch.float32,
                                  device=device)
        # early stopping, one entry per model (a model without it watches nothing)
        real = [s if s is not None else EarlyStopping(patience=1) for s in stoppers]
        self.es_on = torch.tensor([s is not None for s in stoppers], device=device)
        self.es_patience = torch.tensor([s.patience for s in real], device=device)
        self.es_delta = torch.tensor([s.min_delta for s in real], dtype=torch.float64,
                                     device=device)
        self.es_sign = torch.tensor([1.0 if MONITORS[s.monitor] == "min" else -1.0 for s in real],
                                    dtype=torch.float64, device=device)
        self.es_monitor = torch.tensor([MONITOR_ORDER.index(s.monitor) for s in real],
                                       device=device)
        self.es_best = torch.full_like(self.best_acc, torch.inf)  # sign x best
        self.es_best_epoch = torch.zeros_like(self.epochs_done)
        self.es_bad = torch.zeros_like(self.epochs_done)

    def active(self) -> Tensor:
        """Which models still have epochs to train (a device bool per model)."""
        return ~self.stopped & (self.epoch < self.max_epochs)

    def run(self) -> None:
        """Train every active model one epoch, evaluate it, and record the epoch."""
        active = self.active()
        self.models.base.train(True)
        losses, correct = [], torch.zeros_like(self.epochs_done)
        for lo, hi in self.train_batches:
            loss, right = self._train_step(self.order[lo:hi], active)
            losses.append(loss)
            correct = correct + right
        self.models.base.train(False)
        test_losses, test_correct = self._evaluate()
        with torch.no_grad():
            self._end_epoch(active, torch.stack(losses, dim=1), correct, test_losses, test_correct)

    def _train_step(self, index: Tensor, active: Tensor) -> tuple[Tensor, Tensor]:
        _, loss, correct = self._score(*self.train.gather(index))
        grads = torch.autograd.grad(loss, self.models.trainable_tensors, grad_outputs=self.ones)
        self.optimizer.step(self.models.flat, self.models.flat_grad(grads), active)
        return loss.detach(), correct

    @torch.no_grad()
    def _evaluate(self) -> tuple[Tensor, Tensor]:
        parts, correct = [], torch.zeros_like(self.epochs_done)
        for lo, hi in self.eval_chunks:
            losses, _, right = self._score(*self.test.slice(lo, hi))
            parts.append(losses)
            correct = correct + right
        per_sample = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        return self._batch_means(per_sample), correct

    def _batch_means(self, per_sample: Tensor) -> Tensor:
        """Each test batch's mean loss `(N, batches)`: the batches of full size in one reduction,
        a smaller last one in another."""
        size = self.test_batches[0][1] - self.test_batches[0][0]
        full = sum(1 for lo, hi in self.test_batches if hi - lo == size)
        n = per_sample.shape[0]
        means = per_sample[:, : full * size].reshape(n, full, size).mean(dim=2)
        if full == len(self.test_batches):
            return means
        lo, hi = self.test_batches[-1]
        return torch.cat([means, per_sample[:, lo:hi].mean(dim=1, keepdim=True)], dim=1)

    def _score(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Per-sample losses `(N, B)`, mean losses `(N,)` and correct counts `(N,)` of every
        model on its inputs."""
        return stacked_cross_entropy(self.models(x), y, self.label_smoothing)

    def _end_epoch(self, active: Tensor, train_losses: Tensor, train_correct: Tensor,
                   test_losses: Tensor, test_correct: Tensor) -> None:
        """Record the epoch: divergence, early stopping, the best accuracy and weights, history."""
        train_acc = 100.0 * train_correct.double() / self.train_seen
        test_acc = 100.0 * test_correct.double() / self.test_seen
        finite = torch.isfinite(train_losses).all(dim=1) & torch.isfinite(test_losses).all(dim=1)
        self.diverged |= active & ~finite
        monitored = torch.stack([test_losses.double().mean(dim=1), test_acc,
                                 train_losses.double().mean(dim=1), train_acc], dim=1)
        value = self.es_sign * monitored.gather(1, self.es_monitor[:, None]).squeeze(1)
        watch = active & self.es_on
        improved = watch & (value < self.es_best - self.es_delta)
        self.es_best.copy_(torch.where(improved, value, self.es_best))
        self.es_best_epoch.copy_(torch.where(improved, self.epoch + 1, self.es_best_epoch))
        self.es_bad.copy_(torch.where(improved, 0, self.es_bad + watch.long()))
        better = active & (test_acc > self.best_acc)
        self.best_acc.copy_(torch.where(better, test_acc, self.best_acc))
        if self.best is not None:
            self.best.copy_(torch.where(better[:, None], self.models.flat, self.best))
        self.stopped |= (watch & (self.es_bad >= self.es_patience)) | (active & ~finite)
        self.epochs_done += active.long()
        counts = torch.stack([train_correct, test_correct], dim=1).float()
        row = torch.cat([train_losses, test_losses, counts], dim=1)
        self.history.index_copy_(0, self.epoch.view(1), row.unsqueeze(0))
        self.epoch += 1

