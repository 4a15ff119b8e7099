"""The training loop shared by every trainer: epochs, early stopping, checkpoints, resume, NaN guard."""

from __future__ import annotations

import abc
import collections
import contextlib
import itertools
import math
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from scratchlab.errors import ConfigError, TrainingDivergedError
from scratchlab.training.checkpoints import CheckpointFiles
from scratchlab.training.early_stopping import EarlyStopping, as_early_stopping
from scratchlab.training.results import BatchResult, EpochResult, FitResult
from scratchlab.util import get_rng_state, set_rng_state
from scratchlab.util.progress_bars import progress, progress_enabled

EpochCallback = Callable[[int, FitResult], None]
_END = object()  # the end of a loader
Number = float | int | torch.Tensor


class Trainer(abc.ABC):
    """Trains and evaluates a model, one batch at a time.

    Subclasses implement `train_batch` and `test_batch` (the classic course API); fast subclasses
    also override `_train_step`/`_test_step`, which may return tensors so the GPU is not made to
    wait for a `.item()` after every batch (values are read once per epoch).
    """

    # Held while a batch is fetched and stepped (its kernels launched), released while waiting
    # for the device; a GPU trainer sets it to `cuda_graph.CAPTURE_LOCK` so that runs sharing a
    # process launch nothing while one of them captures a CUDA graph.
    launch_lock: contextlib.AbstractContextManager = contextlib.nullcontext()
    # On a GPU: at most this many steps queued ahead of the device. The CPU then never blocks on
    # a full launch queue while holding `launch_lock` (which would stall the other runs).
    steps_ahead: int | None = None

    def __init__(self, model: Any, optimizer: Any = None, scheduler: Any = None) -> None:
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler

    # ---- the classic per-batch API -------------------------------------------------------
    @abc.abstractmethod
    def train_batch(self, batch: Any) -> BatchResult:
        """Forward, loss, backward and optimizer step on one batch."""

    @abc.abstractmethod
    def test_batch(self, batch: Any) -> BatchResult:
        """Forward and loss on one batch, no update."""

    def _train_step(self, batch: Any) -> tuple[Number, Number, int]:
        """(loss, num_correct, num_samples) of one training batch."""
        result = self.train_batch(batch)
        return result.loss, result.num_correct, _batch_size(batch)

    def _test_step(self, batch: Any) -> tuple[Number, Number, int]:
        result = self.test_batch(batch)
        return result.loss, result.num_correct, _batch_size(batch)

    # ---- epochs ----------------------------------------------------------------------------
    def train_epoch(self, dl_train: Iterable, max_batches: int | None = None, verbose: bool = True, **kw: Any) -> EpochResult:
        """One pass over `dl_train` (at most `max_batches` batches), updating the model."""
        self._set_mode(train=True)
        return self._run_epoch(dl_train, self._train_step, max_batches, verbose, "train")

    def test_epoch(self, dl_test: Iterable, max_batches: int | None = None, verbose: bool = True, **kw: Any) -> EpochResult:
        """One pass over `dl_test` without updates."""
        self._set_mode(train=False)
        with torch.no_grad():
            return self._run_epoch(dl_test, self._test_step, max_batches, verbose, "test")

    def _set_mode(self, train: bool) -> None:
        if hasattr(self.model, "train"):
            self.model.train(train)

    def _run_epoch(self, loader: Iterable, step: Callable, max_batches: int | None, verbose: bool, desc: str) -> EpochResult:
        total = _num_batches(loader, max_batches)
        losses: list[Number] = []
        corrects: list[Number] = []
        sizes: list[int] = []
        seen, running_correct = 0, 0.0
        show = progress_enabled(verbose)
        with progress(total=total, verbose=verbose, desc=desc, leave=False) as bar:
            batches = iter(loader)
            in_flight: collections.deque = collections.deque()  # events of steps the device has not run yet
            for i in itertools.count():
                if max_batches is not None and i >= max_batches:
                    break
                if self.steps_ahead is not None and len(in_flight) >= self.steps_ahead:
                    in_flight.popleft().synchronize()  # wait here, not inside the lock
                with self.launch_lock:
                    batch = next(batches, _END)
                    if batch is _END:
                        break
                    loss, correct, n = step(batch)
                if self.steps_ahead is not None:
                    in_flight.append(torch.cuda.Event())
                    in_flight[-1].record()
                losses.append(loss)
                corrects.append(correct)
                sizes.append(n)
                seen += n
                if show:  # reading values here waits for the device: only with a visible bar
                    running_correct += float(correct)
                    bar.set_postfix(loss=f"{float(loss):.3f}", acc=f"{100 * running_correct / seen:.1f}", refresh=False)
                    bar.update()
        return self._epoch_result(losses, corrects, sizes, desc)

    def _epoch_result(self, losses: list[Number], corrects: list[Number], sizes: list[int], desc: str) -> EpochResult:
        """The epoch's batch losses and accuracy (data-parallel trainers combine the ranks here)."""
        seen = sum(sizes)
        if seen == 0:
            raise ConfigError(f"the {desc} loader yielded no batches; check the dataset size and batch size")
        loss_values = _to_floats(losses)
        num_correct = sum(_to_floats(corrects))
        return EpochResult(losses=loss_values, accuracy=100.0 * num_correct / seen)

    # ---- the loop --------------------------------------------------------------------------
    def fit(
        self,
        dl_train: Iterable,
        dl_test: Iterable,
        num_epochs: int,
        checkpoints: str | Path | None = None,
        early_stopping: int | EarlyStopping | None = None,
        print_every: int = 1,
        max_batches: int | None = None,
        resume: bool = False,
        on_epoch_end: EpochCallback | None = None,
        **kw: Any,
    ) -> FitResult:
        """Train for `num_epochs` epochs, testing after each; returns the whole history.

        Args:
            checkpoints: file prefix; `<prefix>_last.pt` is written after every epoch and
                `<prefix>_best.pt` whenever test accuracy improves.
            early_stopping: patience (int) on test loss, or an `EarlyStopping`.
            print_every: print a summary line every this many epochs (0: silent).
            max_batches: at most this many batches per epoch (train and test).
            resume: continue from `<prefix>_last.pt` when it exists (else start afresh), so the
                same call serves the first run and every restart.
            on_epoch_end: called as `on_epoch_end(epoch, fit_result)` after each epoch is saved.
        """
        stopper = as_early_stopping(early_stopping)
        files = self._checkpoint_files(checkpoints) if checkpoints else None
        if resume and files is None:
            raise ConfigError("resume=True needs checkpoints=<file prefix> to resume from")
        history, best_acc, stopped = FitResult(0), None, False
        if resume and (state := files.load_last()) is not None:  # type: ignore[union-attr]
            history, best_acc, stopped = self._restore(state, dl_train, stopper)
        for epoch in range(history.num_epochs, num_epochs):
            if stopped:
                break
            verbose = print_every > 0 and ((epoch + 1) % print_every == 0 or epoch + 1 == num_epochs)
            _set_sampler_epoch(dl_train, epoch)
            train = self.train_epoch(dl_train, max_batches=max_batches, verbose=verbose, **kw)
            _check_finite(train, epoch + 1, "train", files)
            test = self.test_epoch(dl_test, max_batches=max_batches, verbose=verbose, **kw)
            _check_finite(test, epoch + 1, "test", files)
            history.append(train, test)
            self._step_scheduler("epoch")
            if files and (best_acc is None or test.accuracy > best_acc):
                files.save_best(self._checkpoint(history, best_acc, False, dl_train, stopper))
            best_acc = test.accuracy if best_acc is None else max(best_acc, test.accuracy)
            if stopper is not None:
                stopped = stopper.step(epoch + 1, _monitored(stopper.monitor, train, test), self._model_state())
            if verbose:
                _print_epoch(epoch + 1, num_epochs, train, test)
            if files:
                files.save_last(self._checkpoint(history, best_acc, stopped, dl_train, stopper))
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, history)
        if stopper is not None and stopper.restore_best and stopper.best_state is not None:
            self._load_model_state(stopper.best_state)
        return history

    # ---- state -------------------------------------------------------------------------------
    def _checkpoint_files(self, prefix: str | Path) -> CheckpointFiles:
        """Where checkpoints go (data-parallel trainers write them from rank 0 only)."""
        return CheckpointFiles(prefix)

    def _model_state(self) -> dict[str, Any]:
        return self.model.state_dict()

    def _load_model_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state)

    def _step_scheduler(self, when: str) -> None:
        if self.scheduler is not None and getattr(self, "scheduler_step", "epoch") == when:
            self.scheduler.step()

    def _checkpoint(self, history: FitResult, best_acc: float | None, stopped: bool, dl_train: Any, stopper: EarlyStopping | None) -> dict[str, Any]:
        return {
            "epoch": history.num_epochs,
            "history": history.to_dict(),
            "best_acc": best_acc,
            "stopped": stopped,
            "model": self._model_state(),
            "optimizer": _state_of(self.optimizer),
            "scheduler": _state_of(self.scheduler),
            "early_stopping": stopper.state_dict() if stopper else None,
            "loader": _loader_state(dl_train),
            "rng": get_rng_state(),
        }

    def _restore(self, state: dict[str, Any], dl_train: Any, stopper: EarlyStopping | None) -> tuple[FitResult, float | None, bool]:
        self._load_model_state(state["model"])
        if self.optimizer is not None and state.get("optimizer") is not None:
            _load_optimizer_state(self.optimizer, state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if stopper is not None and state.get("early_stopping"):
            stopper.load_state_dict(state["early_stopping"])
        _load_loader_state(dl_train, state.get("loader"))
        set_rng_state(state["rng"])
        return FitResult.from_dict(state["history"]), state["best_acc"], state["stopped"]


# ---- helpers -------------------------------------------------------------------------------
def _batch_size(batch: Any) -> int:
    if isinstance(batch, (list, tuple)):
        return len(batch[-1])
    return len(batch)


def _num_batches(loader: Any, max_batches: int | None) -> int | None:
    try:
        n = len(loader)
    except TypeError:
        return max_batches
    return n if max_batches is None else min(n, max_batches)


def _to_floats(values: list[Number]) -> list[float]:
    if values and isinstance(values[0], torch.Tensor):
        return torch.stack([v.detach().float().reshape(()) for v in values]).tolist()
    return [float(v) for v in values]


def _load_optimizer_state(optimizer: Any, state: dict[str, Any]) -> None:
    """Load an optimizer's state keeping each group's learning rate as the optimizer had it: a
    device tensor stays that tensor (a captured CUDA graph reads it), a float stays a float."""
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, list):  # scratchlab.optim optimizers
        optimizer.load_state_dict(state)
        return
    before = [group["lr"] for group in groups]
    optimizer.load_state_dict(state)
    for group, lr in zip(optimizer.param_groups, before, strict=True):
        loaded = float(group["lr"])
        if isinstance(lr, torch.Tensor):
            lr.fill_(loaded)
            group["lr"] = lr
        else:
            group["lr"] = loaded


def _check_finite(result: EpochResult, epoch: int, phase: str, files: CheckpointFiles | None) -> None:
    for batch, loss in enumerate(result.losses):
        if not math.isfinite(loss):
            kept = ""
            if files is not None:
                kept = (f"; the last good checkpoint {files.last} is kept" if files.last.exists()
                        else "; no checkpoint was written before it")
            raise TrainingDivergedError(
                f"{phase} loss became {loss} at epoch {epoch}, batch {batch + 1}{kept}; "
                "lower the learning rate or check the data"
            )


def _monitored(monitor: str, train: EpochResult, test: EpochResult) -> float:
    phase = train if monitor.startswith("train") else test
    return phase.mean_loss if monitor.endswith("loss") else phase.accuracy


def _print_epoch(epoch: int, num_epochs: int, train: EpochResult, test: EpochResult) -> None:
    print(
        f"epoch {epoch}/{num_epochs}  train loss {train.mean_loss:.4f} acc {train.accuracy:.2f}%  "
        f"test loss {test.mean_loss:.4f} acc {test.accuracy:.2f}%",
        file=sys.stdout,
        flush=True,
    )


def _state_of(obj: Any) -> Any:
    return obj.state_dict() if obj is not None and hasattr(obj, "state_dict") else None


def _set_sampler_epoch(loader: Any, epoch: int) -> None:
    sampler = getattr(loader, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)


def _loader_state(loader: Any) -> Any:
    if hasattr(loader, "state_dict"):
        return loader.state_dict()
    generator = getattr(loader, "generator", None)
    return {"generator": generator.get_state()} if isinstance(generator, torch.Generator) else None


def _load_loader_state(loader: Any, state: Any) -> None:
    if state is None:
        return
    if hasattr(loader, "load_state_dict"):
        loader.load_state_dict(state)
    elif isinstance(getattr(loader, "generator", None), torch.Generator):
        loader.generator.set_state(state["generator"])
