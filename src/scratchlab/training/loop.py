"""`Trainer`: the one training loop: `fit` -> `*_epoch` -> `train_batch`/`test_batch`.

Subclasses implement the two batch methods; everything else a fit does is a callback.
"""

from __future__ import annotations

import abc
import contextlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from scratchlab.errors import ConfigError
from scratchlab.training.callbacks import (
    HOOKS,
    Callback,
    EarlyStopping,
    EpochPrinter,
    NaNGuard,
    PostEpochFn,
    ProgressBar,
    as_early_stopping,
    overrides,
)
from scratchlab.training.checkpoints import Checkpoint, CheckpointFiles, make_trainer_state
from scratchlab.training.results import BatchResult, EpochResult, FitResult


class Trainer(abc.ABC):
    """Trains and evaluates a model, one batch at a time.

    Args:
        scheduler_step: step `scheduler` every `"epoch"`, or every `"batch"` (in subclasses).
        callbacks: callbacks of every `fit` of this trainer (`fit` takes more).
    """

    checkpoint_class: type[Checkpoint] = Checkpoint  # data-parallel trainers write from rank 0

    def __init__(self, model: Any, optimizer: Any = None, scheduler: Any = None,
                 scheduler_step: str = "epoch", callbacks: Sequence[Callback] = ()) -> None:
        if scheduler_step not in ("epoch", "batch"):
            raise ConfigError(f"scheduler_step must be 'epoch' or 'batch', got {scheduler_step!r}")
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.scheduler_step = scheduler_step
        self.callbacks = list(callbacks)
        self.fit_callbacks: list[Callback] = []
        self.history = FitResult(0)
        self.should_stop = False
        self.train_loader: Any = None
        self.last_batch_size = 0
        self._hooks: dict[str, list[Callback]] = {hook: [] for hook in HOOKS}

    # ---- the classic per-batch API ---------------------------------------------------------
    @abc.abstractmethod
    def train_batch(self, batch: Any) -> BatchResult:
        """Forward, loss, backward and optimizer step on one batch."""

    @abc.abstractmethod
    def test_batch(self, batch: Any) -> BatchResult:
        """Forward and loss on one batch, no update."""

    @property
    def epochs_done(self) -> int:
        """Epochs finished so far in this fit (the 1-based number of the last one)."""
        return self.history.num_epochs

    # ---- the loop ----------------------------------------------------------------------------
    def fit(self, dl_train: Iterable, dl_test: Iterable, num_epochs: int,
            checkpoints: str | Path | CheckpointFiles | None = None,
            early_stopping: int | EarlyStopping | None = None,
            print_every: int = 1, post_epoch_fn: Callable | None = None,
            max_batches: int | None = None, resume: bool = False,
            callbacks: Sequence[Callback] = (), **kw: Any) -> FitResult:
        """Train for `num_epochs` epochs, testing after each; returns the whole history.

        Args:
            checkpoints: file prefix of the run's checkpoints, or its `CheckpointFiles`
                (`training.checkpoints`).
            early_stopping: patience (int) on test loss, or an `EarlyStopping`.
            print_every: print a summary line every this many epochs (0: silent).
            post_epoch_fn: the course's `fn(epoch, train_result, test_result, verbose)`.
        """
        if resume and not checkpoints:
            raise ConfigError("resume=True needs checkpoints=<file prefix> to resume from")
        stopper = as_early_stopping(early_stopping)
        files = CheckpointFiles.of(checkpoints) if checkpoints else None
        self.fit_callbacks = [
            NaNGuard(files.last if files else None), *self.callbacks,
            *([stopper] if stopper else []),
            *([self.checkpoint_class(files, resume)] if files else []),
            *([EpochPrinter(print_every, num_epochs)] if print_every > 0 else []),
            *([ProgressBar()] if print_every > 0 and ProgressBar.wanted() else []),
            *callbacks, *([PostEpochFn(post_epoch_fn)] if post_epoch_fn else [])]
        self._hooks = {hook: [c for c in self.fit_callbacks if overrides(c, hook)]
                       for hook in HOOKS}
        self.history, self.should_stop, self.train_loader = FitResult(0), False, dl_train
        self.notify("on_fit_start")
        while self.epochs_done < num_epochs and not self.should_stop:
            train = self.train_epoch(dl_train, max_batches=max_batches, **kw)
            test = self.test_epoch(dl_test, max_batches=max_batches, **kw)
            self.history = self.history.with_epoch(train, test)
            self.step_scheduler("epoch")
            self.notify("on_epoch_end", train, test)
        self.notify("on_fit_end")
        return self.history

    def train_epoch(self, dl_train: Iterable, max_batches: int | None = None,
                    **kw: Any) -> EpochResult:
        """One pass over `dl_train` (at most `max_batches` batches), updating the model."""
        self.set_mode(train=True)
        return self.run_phase("train", dl_train, self.train_batch, max_batches)

    def test_epoch(self, dl_test: Iterable, max_batches: int | None = None,
                   **kw: Any) -> EpochResult:
        """One pass over `dl_test` without updates."""
        self.set_mode(train=False)
        with torch.no_grad():
            return self.run_phase("test", dl_test, self.test_batch, max_batches)

    def run_phase(self, phase: str, loader: Iterable, step: Callable[[Any], BatchResult],
                  max_batches: int | None) -> EpochResult:
        """`step` on every batch of `loader`; the batches' losses and the accuracy."""
        self.notify("on_phase_start", phase, num_batches(loader, max_batches))
        listeners = self._hooks["on_batch_end"]
        results, sizes = [], []
        for batch in self.batches(loader, max_batches):
            results.append(step(batch))
            sizes.append(self.last_batch_size)
            for callback in listeners:
                callback.on_batch_end(self, phase, results[-1])
        result = self.epoch_result(results, sizes, phase)
        self.notify("on_phase_end", phase, result)
        return result

    def batches(self, loader: Iterable, max_batches: int | None) -> Iterator[Any]:
        """The batches of one pass (`last_batch_size` says how many samples each holds)."""
        for batch in itertools.islice(loader, max_batches):
            self.last_batch_size = len(batch[-1] if isinstance(batch, (list, tuple)) else batch)
            yield batch

    def epoch_result(self, results: list[BatchResult], sizes: list[int], phase: str) -> EpochResult:
        """The pass's batch losses and accuracy, read from the device once."""
        seen = sum(sizes)
        if seen == 0:
            raise ConfigError(f"the {phase} loader yielded no batches; "
                              "check the dataset size and batch size")
        losses, corrects = _floats(
            [r.loss for r in results]), _floats([r.num_correct for r in results])
        return EpochResult(losses=losses, accuracy=100.0 * sum(corrects) / seen)

    # ---- callbacks and state -----------------------------------------------------------------
    def notify(self, hook: str, *args: Any) -> None:
        """Call `hook` of every callback in use that implements it."""
        for callback in self._hooks[hook]:
            getattr(callback, hook)(self, *args)

    def set_mode(self, train: bool) -> None:
        if hasattr(self.model, "train"):
            self.model.train(train)

    def step_scheduler(self, when: str) -> None:
        if self.scheduler is not None and self.scheduler_step == when:
            self.scheduler.step()

    def model_state(self) -> dict[str, Any]:
        return self.model.state_dict()

    def load_model_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state)

    def state_dict(self) -> dict[str, Any]:
        """Model, optimizer, scheduler, history, stop flag and the callbacks' states."""
        callbacks = {_key(c): s for c in self.fit_callbacks if (s := c.state_dict()) is not None}
        return make_trainer_state(self.model_state(), self.optimizer, self.scheduler, self.history,
                                  self.should_stop, callbacks)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.load_model_state(state["model"])
        if self.optimizer is not None and state.get("optimizer") is not None:
            load_optimizer_state(self.optimizer, state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.history = FitResult.from_dict(state["history"])
        self.should_stop = bool(state["should_stop"])
        saved = state.get("callbacks", {})
        for callback in self.fit_callbacks:
            if _key(callback) in saved:
                callback.load_state_dict(saved[_key(callback)])


def load_optimizer_state(optimizer: Any, state: dict[str, Any]) -> None:
    """Load `state`; a tensor `lr` stays the same tensor (CUDA graphs read it), a float a float."""
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, list):  # scratchlab.optim optimizers
        optimizer.load_state_dict(state)
        return
    before = [group["lr"] for group in groups]
    optimizer.load_state_dict(state)
    for group, lr in zip(optimizer.param_groups, before, strict=True):
        if isinstance(lr, torch.Tensor):
            lr.fill_(float(group["lr"]))
            group["lr"] = lr
        else:
            group["lr"] = float(group["lr"])


def _key(callback: Callback) -> str:
    return type(callback).__name__


def num_batches(loader: Any, max_batches: int | None) -> int | None:
    try:
        n = len(loader)
    except TypeError:
        return max_batches
    return n if max_batches is None else min(n, max_batches)


def _floats(values: list[Any]) -> list[float]:
    """Python floats of numbers or one-element tensors, reading tensors in one transfer."""
    if values and all(isinstance(v, torch.Tensor) for v in values):
        with contextlib.suppress(RuntimeError):  # tensors of several dtypes or devices
            return torch.stack(values).detach().reshape(-1).double().tolist()
    return [float(v) for v in values]
