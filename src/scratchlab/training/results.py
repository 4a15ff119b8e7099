"""Results of training as the course's named tuples, with a lossless JSON round trip.

Losses are per batch, accuracies per epoch in percent; NaN and infinities survive the round trip.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Self

if TYPE_CHECKING:
    import torch

    Number = float | int | torch.Tensor


class _JsonTuple:
    """Mixin of the result tuples: `to_dict`/`from_dict` and `to_json`/`from_json`."""

    __slots__ = ()
    _fields: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain python values (floats, ints, lists of floats)."""
        return {name: _plain(getattr(self, name)) for name in self._fields}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Build from `to_dict` output; unknown keys are ignored, missing ones are an error."""
        missing = [name for name in cls._fields if name not in data]
        if missing:
            raise KeyError(f"{cls.__name__} needs {missing}")
        return cls(**{name: data[name] for name in cls._fields})

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Self:
        return cls.from_dict(json.loads(text))


def _plain(value: Any) -> Any:
    """A field as a plain value: lists copied, tensors and numpy scalars read with `item()`."""
    if isinstance(value, list):
        return list(value)
    return value.item() if hasattr(value, "item") else value


class _BatchFields(NamedTuple):
    loss: Number
    num_correct: Number


class BatchResult(_BatchFields, _JsonTuple):
    """Loss and number of correct predictions of one batch (numbers, or 0-d device tensors)."""

    __slots__ = ()


class _EpochFields(NamedTuple):
    losses: list[float]
    accuracy: float


class EpochResult(_EpochFields, _JsonTuple):
    """Loss of every batch and accuracy (percent) of one epoch."""

    __slots__ = ()

    @property
    def mean_loss(self) -> float:
        return sum(self.losses) / len(self.losses) if self.losses else math.nan


class _FitFields(NamedTuple):
    num_epochs: int
    train_loss: Sequence[float] = ()
    train_acc: Sequence[float] = ()
    test_loss: Sequence[float] = ()
    test_acc: Sequence[float] = ()


class FitResult(_FitFields, _JsonTuple):
    """A whole run: losses per batch over all epochs, accuracies (percent) per epoch; immutable."""

    __slots__ = ()

    def with_epoch(self, train: EpochResult, test: EpochResult) -> FitResult:
        """A new result: this one followed by one epoch's train and test results."""
        return FitResult(self.num_epochs + 1, [*self.train_loss, *train.losses],
                         [*self.train_acc, train.accuracy], [*self.test_loss, *test.losses],
                         [*self.test_acc, test.accuracy])

    def first_epochs(self, epochs: int) -> FitResult:
        """The result of the first `epochs` epochs (batch losses split evenly by epoch)."""
        per_train = len(self.train_loss) // max(self.num_epochs, 1)
        per_test = len(self.test_loss) // max(self.num_epochs, 1)
        return FitResult(epochs, self.train_loss[: epochs * per_train], self.train_acc[:epochs],
                         self.test_loss[: epochs * per_test], self.test_acc[:epochs])

    @property
    def best_test_acc(self) -> float:
        return max(self.test_acc) if self.test_acc else math.nan

    @property
    def epochs_to_best(self) -> int:
        """1-based epoch of the best test accuracy (0 when there is none)."""
        return self.test_acc.index(self.best_test_acc) + 1 if self.test_acc else 0

    def epoch_mean(self, which: str) -> list[float]:
        """Mean per epoch of `train_loss` or `test_loss` (batch losses split evenly by epoch)."""
        losses = getattr(self, which)
        if not self.num_epochs or not losses:
            return []
        per_epoch = len(losses) // self.num_epochs
        if per_epoch * self.num_epochs != len(losses):
            raise ValueError(
                f"{which} has {len(losses)} batches, not a multiple of {self.num_epochs} epochs")
        return [sum(losses[i : i + per_epoch]) / per_epoch
                for i in range(0, len(losses), per_epoch)]
