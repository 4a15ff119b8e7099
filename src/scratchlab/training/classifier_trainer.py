"""Trainer for any torch.nn.Module that outputs class scores (multi-class, or binary with one logit)."""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from scratchlab.errors import ConfigError
from scratchlab.training.cuda_graph import CAPTURE_LOCK, GraphedTrainStep
from scratchlab.training.results import BatchResult
from scratchlab.training.trainer import Trainer

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class ClassifierTrainer(Trainer):
    """Trains a classifier with torch autograd.

    Args:
        model: any module returning scores `(N, C)` (C >= 2), or one logit `(N,)`/`(N, 1)`.
        loss_fn: e.g. `nn.CrossEntropyLoss()`, or `nn.BCEWithLogitsLoss()` for one logit.
        optimizer: a `torch.optim` optimizer or a `scratchlab.optim` one over `model.parameters()`.
        device: where to train (default: where the model already is).
        scheduler: optional LR scheduler, stepped every epoch (or every batch with
            `scheduler_step="batch"`).
        precision: `fp32` (default), `bf16` or `fp16` autocast.
        compile: wrap the model in `torch.compile` (off by default; worth it on a GPU).
        channels_last: keep image batches in channels-last memory format (faster convs on GPUs).
        cuda_graph: capture the training step as a CUDA graph and replay it (`training.cuda_graph`;
            needs a CUDA device and `cuda_graph.capturable_optimizer`).
    """

    _graphed: GraphedTrainStep | None = None

    def __init__(
        self,
        model: nn.Module,
        loss_fn: nn.Module,
        optimizer: Any,
        device: str | torch.device | None = None,
        scheduler: Any = None,
        scheduler_step: str = "epoch",
        precision: str = "fp32",
        compile: bool = False,
        channels_last: bool = False,
        cuda_graph: bool = False,
    ) -> None:
        super().__init__(model, optimizer, scheduler)
        if precision not in PRECISIONS:
            raise ConfigError(f"precision {precision!r} is unknown; use one of {sorted(PRECISIONS)}")
        if scheduler_step not in ("epoch", "batch"):
            raise ConfigError(f"scheduler_step must be 'epoch' or 'batch', got {scheduler_step!r}")
        self.device = torch.device(device) if device is not None else _model_device(model)
        if self.device.type == "cuda" and self.device.index is None:  # compare equal to tensors' devices
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.model = model.to(self.device)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.loss_fn = loss_fn
        self.scheduler_step = scheduler_step
        self.amp_dtype = PRECISIONS[precision]
        self.channels_last = channels_last
        if compile and cuda_graph:
            raise ConfigError("choose compile or cuda_graph, not both")
        self.forward = torch.compile(self.model) if compile else self.model
        self._graphed = GraphedTrainStep(self._update, optimizer, self.device) if cuda_graph else None
        if self.device.type == "cuda":  # see Trainer.launch_lock and steps_ahead
            self.launch_lock = CAPTURE_LOCK
            self.steps_ahead = 16
        self._classify_scores = getattr(model, "classify_scores", None)  # e.g. a BinaryClassifier's threshold

    # ---- classic API: values as python numbers ---------------------------------------------
    def train_batch(self, batch: Any) -> BatchResult:
        loss, correct, _ = self._train_step(batch)
        return BatchResult(float(loss), int(correct))

    def test_batch(self, batch: Any) -> BatchResult:
        with torch.no_grad():
            loss, correct, _ = self._test_step(batch)
        return BatchResult(float(loss), int(correct))

    # ---- fast path: values stay on the device until the end of the epoch --------------------
    def _train_step(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor, int]:
        x, y = self._to_device(batch)
        replayed = self._graphed(x, y) if self._graphed is not None else None
        if replayed is None:
            self.optimizer.zero_grad()
            loss, correct = self._update(x, y)
        else:
            loss, correct = replayed
        if self.scheduler is not None:
            self._step_scheduler("batch")
        return loss, correct, len(y)

    def _update(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward, loss, backward and optimizer step on zeroed gradients: (loss, number correct)."""
        with self._autocast():
            scores = self.forward(x)
            loss = self._loss(scores, y)
        loss.backward()
        self.optimizer.step()
        return loss.detach(), self._num_correct(scores.detach(), y)

    def _test_step(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor, int]:
        x, y = self._to_device(batch)
        with self._autocast():
            scores = self.forward(x)
            loss = self._loss(scores, y)
        return loss.detach(), self._num_correct(scores, y), len(y)

    def _to_device(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch[0], batch[1]
        if x.device != self.device:
            x = x.to(self.device, non_blocking=True)
        if y.device != self.device:
            y = y.to(self.device, non_blocking=True)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        # a CUDA graph must not keep autocast's cached weight casts from the capture
        return torch.autocast(self.device.type, dtype=self.amp_dtype, cache_enabled=self._graphed is None)

    def _loss(self, scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if _is_single_logit(scores):
            return self.loss_fn(scores.reshape(-1).float(), y.float())
        return self.loss_fn(scores.float(), y)

    def _num_correct(self, scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self._classify_scores is not None:
            predicted = self._classify_scores(scores)
        elif _is_single_logit(scores):
            predicted = (scores.reshape(-1) > 0).long()
        else:
            predicted = scores.argmax(dim=1)
        return (predicted == y).sum()


def _is_single_logit(scores: torch.Tensor) -> bool:
    return scores.dim() == 1 or (scores.dim() == 2 and scores.shape[1] == 1)


def _model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")
