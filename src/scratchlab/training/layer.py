"""Trainer for from-scratch models: forward, loss, backward and step, all without autograd."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from scratchlab.training.callbacks import Callback
from scratchlab.training.loop import Trainer
from scratchlab.training.results import BatchResult


class LayerTrainer(Trainer):
    """Trains a `scratchlab.scratch` model with a scratch loss and a `scratchlab.optim` optimizer.

    Args:
        model: a scratch `Layer` (e.g. `scratch.MLP`) returning class scores.
        loss_fn: a scratch loss layer (e.g. `scratch.CrossEntropyLoss()`).
        optimizer: a `scratchlab.optim` optimizer over `model.params()`.
        flatten: flatten each input to `(N, features)` first (what an MLP wants; set False for a
            scratch CNN).
    """

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
