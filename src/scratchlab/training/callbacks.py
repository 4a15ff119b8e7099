"""Callbacks: code that observes a `Trainer.fit` and may steer it (`trainer.should_stop = True`),
such as `EarlyStopping`.

Hooks run in the order of the trainer's callback list; state to keep across a resume goes
through `state_dict`/`load_state_dict`.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scratchlab.errors import ConfigError, TrainingDivergedError
from scratchlab.training.results import BatchResult, EpochResult
from scratchlab.util.progress_bars import progress, progress_enabled

if TYPE_CHECKING:
    from pathlib import Path

    from scratchlab.training.loop import Trainer

HOOKS = ("on_fit_start", "on_phase_start", "on_batch_end", "on_phase_end", "on_epoch_end",
         "on_fit_end")


class Callback:
    """Base class: every hook does nothing. `phase` is `"train"` or `"test"`."""

    def on_fit_start(self, trainer: Trainer) -> None:
        """Before the first epoch (after a resume has restored the trainer)."""

    def on_phase_start(self, trainer: Trainer, phase: str, num_batches: int | None) -> None:
        """Before the batches of a train or test pass."""

    def on_batch_end(self, trainer: Trainer, phase: str, result: BatchResult) -> None:
        """After each batch (values may still be on the device: `float()` waits for them)."""

    def on_phase_end(self, trainer: Trainer, phase: str, result: EpochResult) -> None:
        """After a train or test pass."""

    def on_epoch_end(self, trainer: Trainer, train: EpochResult, test: EpochResult) -> None:
        """After each epoch (already in `trainer.history` and `trainer.epochs_done`)."""

    def on_fit_end(self, trainer: Trainer) -> None:
        """After the last epoch (also after an early stop)."""

    def state_dict(self) -> dict[str, Any] | None:
        """What to keep for an exact resume (None: nothing)."""
        return None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take back what `state_dict` returned."""


def overrides(callback: Callback, hook: str) -> bool:
    """Whether `callback` implements `hook` (the trainer calls only those)."""
    return getattr(type(callback), hook) is not getattr(Callback, hook)


class NaNGuard(Callback):
    """Raises `TrainingDivergedError` at the first NaN or infinite loss (naming `checkpoint`)."""

    def __init__(self, checkpoint: Path | None = None) -> None:
        self.checkpoint = checkpoint

    def on_phase_end(self, trainer: Trainer, phase: str, result: EpochResult) -> None:
        problem = divergence(phase, result.losses, trainer.epochs_done, self._kept())
        if problem is not None:
            raise TrainingDivergedError(problem)

    def _kept(self) -> str:
        if self.checkpoint is None:
            return ""
        if self.checkpoint.exists():
            return f"; the last good checkpoint {self.checkpoint} is kept"
        return "; no checkpoint was written before it"


def divergence(phase: str, losses: Sequence[float], epoch: int, kept: str = "") -> str | None:
    """The message for the first NaN or infinite loss of epoch `epoch` (0-based), else None."""
    for batch, loss in enumerate(losses, 1):
        if not math.isfinite(loss):
            return (f"{phase} loss became {loss} at epoch {epoch + 1}, batch {batch}{kept}; "
                    "lower the learning rate or check the data")
    return None


class Timer(Callback):
    """Wall seconds of every epoch (`seconds`), kept across a resume."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.start = time.perf_counter()

    def on_fit_start(self, trainer: Trainer) -> None:
        self.seconds = self.seconds[: trainer.epochs_done]
        self.start = time.perf_counter()

    def on_epoch_end(self, trainer: Trainer, train: EpochResult, test: EpochResult) -> None:
        now = time.perf_counter()
        self.seconds.append(now - self.start)
        self.start = now

    def state_dict(self) -> dict[str, Any]:
        return {"seconds": list(self.seconds)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seconds = list(state["seconds"])


class EpochPrinter(Callback):
    """Prints one line every `every` epochs (and after the last): losses and accuracies."""

    def __init__(self, every: int = 1, num_epochs: int | None = None) -> None:
        self.every, self.num_epochs = every, num_epochs

    def on_epoch_end(self, trainer: Trainer, train: EpochResult, test: EpochResult) -> None:
        last = trainer.epochs_done == self.num_epochs
        if trainer.epochs_done % self.every == 0 or last:
            of = f"/{self.num_epochs}" if self.num_epochs else ""
            print(f"epoch {trainer.epochs_done}{of}  train loss {train.mean_loss:.4f} acc "
                  f"{train.accuracy:.2f}%  test loss {test.mean_loss:.4f} acc {test.accuracy:.2f}%",
                  flush=True)


class ProgressBar(Callback):
    """A tqdm bar per pass of the running loss and accuracy; waits for the device (`wanted`)."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.seen = self.correct = 0

    @staticmethod
    def wanted(verbose: bool = True) -> bool:
        return progress_enabled(verbose)

    def on_phase_start(self, trainer: Trainer, phase: str, num_batches: int | None) -> None:
        self.bar = progress(total=num_batches, desc=phase, leave=False)
        self.seen = self.correct = 0

    def on_batch_end(self, trainer: Trainer, phase: str, result: BatchResult) -> None:
        self.seen += trainer.last_batch_size
        self.correct += int(result.num_correct)
        self.bar.set_postfix(loss=f"{float(result.loss):.3f}",
                             acc=f"{100 * self.correct / max(self.seen, 1):.1f}", refresh=False)
        self.bar.update()

    def on_phase_end(self, trainer: Trainer, phase: str, result: EpochResult) -> None:
        self.bar.close()


class PostEpochFn(Callback):
    """The course's `post_epoch_fn(epoch, train_result, test_result, verbose)` as a callback."""

    def __init__(self, fn: Callable[[int, EpochResult, EpochResult, bool], Any]) -> None:
        self.fn = fn

    def on_epoch_end(self, trainer: Trainer, train: EpochResult, test: EpochResult) -> None:
        self.fn(trainer.epochs_done - 1, train, test, True)


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
