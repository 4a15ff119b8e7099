"""`ClassifierTrainer`: trains any torch module that outputs class scores, or one logit."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from scratchlab.errors import ConfigError
from scratchlab.training.callbacks import Callback
from scratchlab.training.loop import Trainer
from scratchlab.training.results import BatchResult

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class ClassifierTrainer(Trainer):
    """Trains a classifier with torch autograd (every argument: docs/training.md).

    Args:
        model: returns scores `(N, C)` (C >= 2), or one logit `(N,)`/`(N, 1)`.
        precision: `fp32`, `bf16` or `fp16` autocast.

    Batch results are python numbers on a CPU, 0-d tensors on a GPU (no wait per batch).
    """

    def __init__(self, model: nn.Module, loss_fn: nn.Module, optimizer: Any,
                 device: str | torch.device | None = None, scheduler: Any = None,
                 scheduler_step: str = "epoch", precision: str = "fp32", compile: bool = False,
                 channels_last: bool = False, callbacks: Sequence[Callback] = ()) -> None:
        super().__init__(model, optimizer, scheduler, scheduler_step, callbacks)
        if precision not in PRECISIONS:
            raise ConfigError(f"precision {precision!r} is unknown; use one of "
                              f"{sorted(PRECISIONS)}")
        if device is None:  # the model's (the CPU for a model without parameters)
            param = next(model.parameters(), None)
            device = param.device if param is not None else "cpu"
        self.device = torch.device(device)
        if self.device.type == "cuda" and self.device.index is None:  # equal to tensors' devices
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.model = model.to(self.device)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.loss_fn = loss_fn
        self.amp_dtype = PRECISIONS[precision]
        self.cache_casts = True  # autocast's weight casts kept across a step (not in CUDA graphs)
        self.channels_last = channels_last
        self.forward = torch.compile(self.model) if compile else self.model
        self._classify_scores = getattr(model, "classify_scores", None)  # e.g. a threshold

    def train_batch(self, batch: Any) -> BatchResult:
        x, y = self.to_device(batch)
        self.optimizer.zero_grad()
        loss, correct = self.update(x, y)
        self.step_scheduler("batch")
        return self.batch_result(loss, correct)

    def test_batch(self, batch: Any) -> BatchResult:
        x, y = self.to_device(batch)
        with self.autocast():
            scores = self.forward(x)
            loss = self.loss(scores, y)
        return self.batch_result(loss.detach(), self.num_correct(scores, y))

    def update(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward, backward and step on zeroed gradients; returns (loss, number correct)."""
        with self.autocast():
            scores = self.forward(x)
            loss = self.loss(scores, y)
        loss.backward()
        self.optimizer.step()
        return loss.detach(), self.num_correct(scores, y)  # argmax and == record no graph

    def batch_result(self, loss: torch.Tensor, correct: torch.Tensor) -> BatchResult:
        if self.device.type == "cuda":
            return BatchResult(loss, correct)
        return BatchResult(loss.item(), int(correct))

    def to_device(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        x = batch[0].to(self.device, non_blocking=True)  # the same tensor when already there
        y = batch[1].to(self.device, non_blocking=True)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype,
                              cache_enabled=self.cache_casts)

    def loss(self, scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        scores = scores.float()  # the loss in float32 under mixed precision (no copy if float32)
        if _is_single_logit(scores):
            return self.loss_fn(scores.reshape(-1), y.float())
        return self.loss_fn(scores, y)

    def num_correct(self, scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self._classify_scores is not None:
            predicted = self._classify_scores(scores)
        elif _is_single_logit(scores):
            predicted = (scores.reshape(-1) > 0).long()
        else:
            predicted = scores.argmax(dim=1)
        return (predicted == y).sum()


def _is_single_logit(scores: torch.Tensor) -> bool:
    return scores.dim() == 1 or (scores.dim() == 2 and scores.shape[1] == 1)
