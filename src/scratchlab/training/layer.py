"""Trainer for from-scratch models: forward, loss, backward and step, all without autograd."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from scratchlab.training.callbacks import Callback
from scratchlab.training.loop import Trainer
from scratchlab.training.results import BatchResult


class LayerTrainer(Trainer):
    """Trains a scratch model with a scratch loss and optimizer; `flatten`: inputs to `(N, -1)`."""

    def __init__(self, model: Any, loss_fn: Any, optimizer: Any, flatten: bool = True,
                 callbacks: Sequence[Callback] = ()) -> None:
        super().__init__(model, optimizer, callbacks=callbacks)
        self.loss_fn = loss_fn
        self.flatten = flatten

    def inputs(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch[0], batch[1]
        return (x.reshape(len(x), -1) if self.flatten else x), y

    def train_batch(self, batch: Any) -> BatchResult:
        x, y = self.inputs(batch)
        scores = self.model(x)
        loss = self.loss_fn(scores, y)
        self.optimizer.zero_grad()
        self.model.backward(self.loss_fn.backward())
        self.optimizer.step()
        return BatchResult(float(loss), int((scores.argmax(dim=1) == y).sum()))

    def test_batch(self, batch: Any) -> BatchResult:
        x, y = self.inputs(batch)
        scores = self.model(x)
        loss = self.loss_fn(scores, y)
        return BatchResult(float(loss), int((scores.argmax(dim=1) == y).sum()))
