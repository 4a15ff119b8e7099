"""One epoch of N models on the device: every train step, the evaluation, early stopping, history.

`EpochProgram.run()` only touches tensors it owns and never waits for the host, so `EpochRunner`
can replay it as a CUDA graph. History row per model: train losses, test losses, train and test
correct counts, trained (1) or not.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from scratchlab.errors import ConfigError
from scratchlab.training.accel.batched_optim import BatchedOptimizer
from scratchlab.training.accel.batched_state import StackedData, StackedModels
from scratchlab.training.early_stopping import MONITORS, EarlyStopping

MONITOR_ORDER = ("test_loss", "test_acc", "train_loss", "train_acc")
EVAL_ELEMENTS = 2**24  # at most this many input numbers per evaluation chunk (bounds memory)


class EpochProgram:
    """The device-side state and work of one epoch of every model (see module docstring)."""

    def __init__(self, models: StackedModels, optimizer: BatchedOptimizer, train: StackedData,
                 test: StackedData,
                 epochs: Sequence[int], stoppers: Sequence[EarlyStopping | None],
                 max_batches: int | None,
                 label_smoothing: float = 0.0, keep_best: bool = False) -> None:
        device = train.x.device
        n = models.count
        self.models, self.optimizer, self.train, self.test = models, optimizer, train, test
        self.label_smoothing = label_smoothing
        self.train_batches = train.batches(max_batches)
        self.test_batches = test.batches(max_batches)
        _check_scores(models, test)
        self.train_seen = self.train_batches[-1][1]
        self.test_seen = self.test_batches[-1][1]
        per_sample = max(1, test.x[0, 0].numel())
        step = max(1, EVAL_ELEMENTS // (n * per_sample))
        self.eval_chunks = [(lo, min(lo + step, self.test_seen))
                            for lo in range(0, self.test_seen, step)]
        self.order = torch.arange(train.size, device=device).repeat(n, 1)
        self.epoch = torch.zeros((), dtype=torch.long, device=device)
        self.max_epochs = torch.tensor(list(epochs), dtype=torch.long, device=device)
        self.stopped = torch.zeros(n, dtype=torch.bool, device=device)
        self.diverged = torch.zeros(n, dtype=torch.bool, device=device)
        self.epochs_done = torch.zeros(n, dtype=torch.long, device=device)
        self._init_early_stopping(stoppers, device)
        self.best_acc = torch.full((n,), -torch.inf, dtype=torch.float64, device=device)
        self.best_epoch = torch.zeros(n, dtype=torch.long, device=device)
        self.best = models.flat.detach().clone() if keep_best else None
        self.width = len(self.train_batches) + len(self.test_batches) + 3
        self.history = torch.full((max(epochs), n, self.width), torch.nan, dtype=torch.float32,
                                  device=device)

    def _init_early_stopping(self, stoppers: Sequence[EarlyStopping | None],
                             device: torch.device) -> None:
        on = [s is not None for s in stoppers]
        real = [s if s is not None else EarlyStopping(patience=1) for s in stoppers]
        self.es_on = torch.tensor(on, dtype=torch.bool, device=device)
        self.es_patience = torch.tensor([s.patience for s in real], dtype=torch.long, device=device)
        self.es_delta = torch.tensor([s.min_delta for s in real], dtype=torch.float64,
                                     device=device)
        self.es_sign = torch.tensor([1.0 if MONITORS[s.monitor] == "min" else -1.0 for s in real],
                                    dtype=torch.float64, device=device)
        self.es_monitor = torch.tensor([MONITOR_ORDER.index(s.monitor) for s in real],
                                       dtype=torch.long, device=device)
        # sign x best
        self.es_best = torch.full((len(real),), torch.inf, dtype=torch.float64, device=device)
        self.es_best_epoch = torch.zeros(len(real), dtype=torch.long, device=device)
        self.es_bad = torch.zeros(len(real), dtype=torch.long, device=device)

    # ---- the epoch -----------------------------------------------------------------------------
    def run(self) -> None:
        """Train every active model one epoch, evaluate it, and record the epoch."""
        active = ~self.stopped & (self.epoch < self.max_epochs)
        self.models.train(True)
        losses, correct = [], torch.zeros_like(self.epochs_done)
        for lo, hi in self.train_batches:
            loss, right = self._train_step(self.order[:, lo:hi], active)
            losses.append(loss)
            correct = correct + right
        train_losses = torch.stack(losses, dim=1)
        self.models.train(False)
        test_losses, test_correct = self._evaluate()
        with torch.no_grad():
            self._end_epoch(active, train_losses, correct, test_losses, test_correct)

    def _train_step(self, index: Tensor, active: Tensor) -> tuple[Tensor, Tensor]:
        x, y = self.train.gather(index)
        scores = self.models(x)
        n, b = y.shape
        per_sample = F.cross_entropy(scores.reshape(n * b, -1), y.reshape(-1), reduction="none",
                                     label_smoothing=self.label_smoothing)
        loss = per_sample.view(n, b).mean(dim=1)
        grads = torch.autograd.grad(loss.sum(), self.models.trainable_tensors())
        self.optimizer.step(self.models.flat, self.models.flat_grad(grads), active)
        return loss.detach(), (scores.detach().argmax(dim=-1) == y).sum(dim=1)

    @torch.no_grad()
    def _evaluate(self) -> tuple[Tensor, Tensor]:
        parts, correct = [], torch.zeros_like(self.epochs_done)
        for lo, hi in self.eval_chunks:
            x, y = self.test.slice(lo, hi)
            scores = self.models(x)
            n, b = y.shape
            parts.append(F.cross_entropy(scores.reshape(n * b, -1), y.reshape(-1), reduction="none",
                                         label_smoothing=self.label_smoothing).view(n, b))
            correct = correct + (scores.argmax(dim=-1) == y).sum(dim=1)
        per_sample = torch.cat(parts, dim=1)
        losses = [per_sample[:, lo:hi].mean(dim=1) for lo, hi in self.test_batches]
        return torch.stack(losses, dim=1), correct

    def _end_epoch(self, active: Tensor, train_losses: Tensor, train_correct: Tensor,
                   test_losses: Tensor, test_correct: Tensor) -> None:
        train_acc = 100.0 * train_correct.double() / self.train_seen
        test_acc = 100.0 * test_correct.double() / self.test_seen
        finite = torch.isfinite(train_losses).all(dim=1) & torch.isfinite(test_losses).all(dim=1)
        self.diverged |= active & ~finite
        monitored = torch.stack([test_losses.double().mean(dim=1), test_acc,
                                 train_losses.double().mean(dim=1), train_acc], dim=1)
        value = self.es_sign * monitored.gather(1, self.es_monitor[:, None]).squeeze(1)
        improved = value < self.es_best - self.es_delta
        watch = active & self.es_on
        self.es_best.copy_(torch.where(watch & improved, value, self.es_best))
        self.es_best_epoch.copy_(torch.where(watch & improved, self.epoch + 1, self.es_best_epoch))
        self.es_bad.copy_(torch.where(watch, torch.where(improved, 0, self.es_bad + 1),
                                      self.es_bad))
        better = active & (test_acc > self.best_acc)
        self.best_acc.copy_(torch.where(better, test_acc, self.best_acc))
        self.best_epoch.copy_(torch.where(better, self.epoch + 1, self.best_epoch))
        if self.best is not None:
            self.best.copy_(torch.where(better[:, None], self.models.flat, self.best))
        self.stopped |= (watch & (self.es_bad >= self.es_patience)) | (active & ~finite)
        self.epochs_done += active.long()
        row = torch.cat([train_losses, test_losses, train_correct[:, None].float(),
                         test_correct[:, None].float(),
                         active[:, None].float()], dim=1)
        self.history.index_copy_(0, self.epoch.view(1), row.unsqueeze(0))
        self.epoch += 1

    def any_active(self) -> Tensor:
        """A device bool: does any model still have epochs to train?"""
        return (~self.stopped & (self.epoch < self.max_epochs)).any()


def _check_scores(models: StackedModels, test: StackedData) -> None:
    with torch.no_grad():
        scores = models(test.slice(0, 1)[0])
    if scores.dim() != 3 or scores.shape[-1] < 2:
        raise ConfigError("the batched trainer needs class scores (batch, classes >= 2) from each "
                          f"model, got {tuple(scores.shape[1:])}")


class EpochRunner:
    """Runs a program's epochs on its own CUDA stream, replayed as a CUDA graph after warm-up.

    Args:
        warmup: eager epochs before the capture (they also warm up cuBLAS/cuDNN).
    """

    def __init__(self, program: EpochProgram, cuda_graphs: bool | None = None,
                 warmup: int = 2) -> None:
        self.program = program
        device = program.order.device
        self.cuda = device.type == "cuda"
        self.stream = torch.cuda.Stream(device) if self.cuda else None
        if self.stream is not None:  # the program's tensors were made on the current stream
            self.stream.wait_stream(torch.cuda.current_stream(device))
        self.use_graph = self.cuda and (cuda_graphs is None or cuda_graphs)
        self.warmup = warmup
        self.eager_epochs = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.flag = torch.ones((), dtype=torch.bool).pin_memory() if self.cuda else None
        self.flag_event: torch.cuda.Event | None = None

    def context(self) -> contextlib.AbstractContextManager:
        return torch.cuda.stream(self.stream) if self.cuda else contextlib.nullcontext()

    def run_epoch(self, order: Tensor | None) -> None:
        """Run one epoch, first copying in `order` (CPU `(N, S)`; None keeps the last one)."""
        with self.context():
            if order is not None:
                source = order.pin_memory() if self.cuda else order
                self.program.order.copy_(source, non_blocking=self.cuda)
            if self.use_graph and self.graph is None and self.eager_epochs >= self.warmup:
                self._capture()
            if self.graph is not None:
                self.graph.replay()
            else:
                self.program.run()
                self.eager_epochs += 1

    def _capture(self) -> None:
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph, stream=self.stream):
                self.program.run()
        except Exception as exc:  # an op that cannot be captured: stay eager, results are the same
            warnings.warn(f"the batched epoch could not be captured as a CUDA graph ({exc}); "
                          "running it eagerly", stacklevel=2)
            self.use_graph = False
            return
        self.graph = graph

    def still_active(self) -> bool:
        """Whether any model has epochs left, as last seen (on CUDA without waiting for it)."""
        if not self.cuda:
            return bool(self.program.any_active())
        if self.flag_event is None or self.flag_event.query():
            known = bool(self.flag) if self.flag_event is not None else True
            with self.context():
                self.flag.copy_(self.program.any_active(), non_blocking=True)
                self.flag_event = torch.cuda.Event()
                self.flag_event.record(self.stream)
            return known
        return True
