"""Early stopping on a monitored quantity, optionally restoring the best weights (a callback)."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scratchlab.errors import ConfigError
from scratchlab.training.callbacks import Callback
from scratchlab.training.results import EpochResult

if TYPE_CHECKING:
    from scratchlab.training.loop import Trainer

MONITORS = {"test_loss": "min", "test_acc": "max", "train_loss": "min", "train_acc": "max"}


@dataclass
class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by more than `min_delta` for `patience` epochs.

    `monitor` is a key of `MONITORS`; `restore_best` loads the best epoch's weights at the end.
    """

    patience: int
    monitor: str = "test_loss"
    min_delta: float = 0.0
    restore_best: bool = False
    best: float | None = None
    best_epoch: int = 0
    bad_epochs: int = 0
    best_state: dict[str, Any] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.monitor not in MONITORS:
            raise ConfigError(f"early stopping monitor {self.monitor!r} is unknown; "
                              f"use one of {sorted(MONITORS)}")
        if self.patience < 1:
            raise ConfigError(f"early stopping patience must be >= 1, got {self.patience}")
        if self.min_delta < 0:
            raise ConfigError(f"early stopping min_delta must be >= 0, got {self.min_delta}")

    def improved(self, value: float) -> bool:
        """Whether `value` beats the best so far by more than `min_delta`."""
        if self.best is None:
            return not math.isnan(value)
        if MONITORS[self.monitor] == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def step(self, epoch: int, value: float, model_state: dict[str, Any] | None = None) -> bool:
        """Record epoch `epoch`'s monitored `value`; return True when training should stop."""
        if self.improved(value):
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            if self.restore_best and model_state is not None:
                self.best_state = copy.deepcopy(model_state)
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience

    def on_epoch_end(self, trainer: Trainer, train: EpochResult, test: EpochResult) -> None:
        phase = train if self.monitor.startswith("train") else test
        value = phase.mean_loss if self.monitor.endswith("loss") else phase.accuracy
        if self.step(trainer.epochs_done, value, trainer.model_state()):
            trainer.should_stop = True

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.restore_best and self.best_state is not None:
            trainer.load_model_state(self.best_state)

    def state_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("best", "best_epoch", "bad_epochs", "best_state")}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)


def as_early_stopping(value: int | EarlyStopping | None) -> EarlyStopping | None:
    """Accept the classic `early_stopping=<patience>` int as well as an `EarlyStopping`."""
    if value is None or isinstance(value, EarlyStopping):
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(
            f"early_stopping must be a patience (int) or EarlyStopping, got {value!r}")
    return EarlyStopping(patience=value)
