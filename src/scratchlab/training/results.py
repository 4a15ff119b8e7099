"""Results of training, in the classic course form, with a lossless JSON round trip.

- `BatchResult(loss, num_correct)`: one batch.
- `EpochResult(losses, accuracy)`: the loss of every batch and the accuracy (percent) of one epoch.
- `FitResult(num_epochs, train_loss, train_acc, test_loss, test_acc)`: losses per batch over all
  epochs, accuracies (percent) per epoch.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

T = TypeVar("T", bound="_JsonResult")


class _JsonResult:
    """Mixin: `to_dict`/`from_dict` and `to_json`/`from_json` that round-trip exactly.

    Python's JSON writes floats with `repr`, which reads back to the same float; NaN and
    infinities are kept (as JSON's NaN/Infinity), since a diverged run is still a result.
    """

    _fields: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain python values (lists of floats, ints)."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        """Build from `to_dict` output; unknown keys are ignored, missing ones are an error."""
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        missing = [n for n in names if n not in data]
        if missing:
            raise KeyError(f"{cls.__name__} needs {missing}")
        return cls(**{n: data[n] for n in names})

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls: type[T], text: str) -> T:
        return cls.from_dict(json.loads(text))


@dataclass
class BatchResult(_JsonResult):
    """Loss and number of correct predictions of one batch."""

    loss: float
    num_correct: int


@dataclass
class EpochResult(_JsonResult):
    """Loss of every batch and accuracy (percent) of one epoch."""

    losses: list[float]
    accuracy: float

    @property
    def mean_loss(self) -> float:
        return sum(self.losses) / len(self.losses) if self.losses else math.nan


@dataclass
class FitResult(_JsonResult):
    """A whole run: losses per batch over all epochs, accuracies (percent) per epoch."""

    num_epochs: int
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)

    def append(self, train: EpochResult, test: EpochResult) -> None:
        """Add one epoch's train and test results."""
        self.num_epochs += 1
        self.train_loss.extend(train.losses)
        self.train_acc.append(train.accuracy)
        self.test_loss.extend(test.losses)
        self.test_acc.append(test.accuracy)

    @property
    def best_test_acc(self) -> float:
        return max(self.test_acc) if self.test_acc else math.nan

    @property
    def epochs_to_best(self) -> int:
        """1-based epoch of the best test accuracy (0 when there is none)."""
        if not self.test_acc:
            return 0
        return self.test_acc.index(self.best_test_acc) + 1

    def epoch_mean(self, which: str) -> list[float]:
        """Mean per epoch of `train_loss` or `test_loss` (batch losses are split evenly by epoch)."""
        losses = getattr(self, which)
        if not self.num_epochs or not losses:
            return []
        per_epoch = len(losses) // self.num_epochs
        if per_epoch * self.num_epochs != len(losses):
            raise ValueError(f"{which} has {len(losses)} batches, not a multiple of {self.num_epochs} epochs")
        return [sum(losses[i : i + per_epoch]) / per_epoch for i in range(0, len(losses), per_epoch)]
