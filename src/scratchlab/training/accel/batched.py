"""Train many small models of one architecture at once, each as if it were trained alone.

Each model gets the `FitResult` that `ClassifierTrainer.fit` gives it alone (up to float32
round-off); the epochs run on the device (`batched_program`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from scratchlab.errors import ConfigError, TrainingDivergedError
from scratchlab.training.accel.batched_optim import BatchedOptimizer
from scratchlab.training.accel.batched_program import EpochProgram, EpochRunner
from scratchlab.training.accel.batched_state import StackedData, StackedModels
from scratchlab.training.early_stopping import EarlyStopping, as_early_stopping
from scratchlab.training.loaders import TensorLoader
from scratchlab.training.results import FitResult
from scratchlab.util import progress


@dataclass
class ModelOutcome:
    """What became of one model of a batched fit, beyond its `FitResult`."""

    stopped: bool = False
    failure: str | None = None
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    early_stopping: dict[str, Any] | None = None


class BatchedTrainer:
    """Trains N models of one architecture together (see module docstring).

    Args:
        models: identical but for their weights; no BatchNorm and no active Dropout.
        optimizers: one fresh torch SGD, Adam, AdamW or RMSprop per model, all of one class.
        cuda_graphs: replay each epoch as a CUDA graph (default: on CUDA devices).
    """

    def __init__(self, models: Sequence[nn.Module], optimizers: Sequence[torch.optim.Optimizer],
                 label_smoothing: float = 0.0, device: str | torch.device | None = None,
                 cuda_graphs: bool | None = None) -> None:
        if len(models) != len(optimizers):
            raise ConfigError(f"give one optimizer per model: {len(models)} models, "
                              f"{len(optimizers)} optimizers")
        self.models = list(models)
        self.optimizers = list(optimizers)
        first = next(iter(self.models[0].parameters()), None) if self.models else None
        self.device = (torch.device(device) if device is not None
                       else (first.device if first is not None else torch.device("cpu")))
        self.stacked = StackedModels(self.models, self.device)
        self.optimizer = BatchedOptimizer(self.optimizers, self.stacked.flat, self.stacked.shapes)
        self.label_smoothing = label_smoothing
        self.cuda_graphs = cuda_graphs
        self.outcomes: list[ModelOutcome] = []

    def fit(self, dl_train: Sequence[TensorLoader], dl_test: Sequence[TensorLoader],
            num_epochs: int | Sequence[int],
            early_stopping: Any = None, max_batches: int | None = None, keep_best: bool = False,
            verbose: bool = False) -> list[FitResult]:
        """Train every model on its own loaders; one `FitResult` per model, as `Trainer.fit` gives.

        Args:
            dl_train, dl_test: one `TensorLoader` per model (generators end as if iterated).
            num_epochs, early_stopping: one value for all models, or a list with one per model.
            keep_best: keep each model's best-test-accuracy weights (`outcomes[i].best_state`).

        Afterwards `models` and `optimizers` hold the final states, `outcomes` the rest.
        """
        return fit_many([self.prepare(dl_train, dl_test, num_epochs, early_stopping, max_batches,
                                      keep_best)], verbose)[0]

    def prepare(self, dl_train: Sequence[TensorLoader], dl_test: Sequence[TensorLoader],
                num_epochs: int | Sequence[int],
                early_stopping: Any = None, max_batches: int | None = None,
                keep_best: bool = False) -> BatchedFit:
        """A fit ready to run (by `fit_many`, possibly together with other groups)."""
        n = self.stacked.count
        if len(dl_train) != n or len(dl_test) != n:
            raise ConfigError(f"give one train and one test loader per model ({n}), got "
                              f"{len(dl_train)} and {len(dl_test)}")
        epochs = [num_epochs] * n if isinstance(num_epochs, int) else list(num_epochs)
        stoppers = (early_stopping if isinstance(early_stopping, (list, tuple))
                    else [early_stopping] * n)
        if len(epochs) != n or len(stoppers) != n or min(epochs) < 1:
            raise ConfigError("num_epochs and early_stopping must be one value or one per model "
                              f"({n}), epochs >= 1")
        stoppers = [as_early_stopping(s) for s in stoppers]
        if any(s is not None and s.restore_best for s in stoppers):
            raise ConfigError("the batched trainer does not restore early stopping's best weights; "
                              "use keep_best=True and outcomes[i].best_state")
        train = StackedData(dl_train, self.device, "train")
        test = StackedData(dl_test, self.device, "test")
        if test.shuffle:
            raise ConfigError("the batched trainer evaluates test loaders in order; build them "
                              "with shuffle=False")
        program = EpochProgram(self.stacked, self.optimizer, train, test, epochs, stoppers,
                               max_batches,
                               self.label_smoothing, keep_best)
        return BatchedFit(self, program, list(dl_train), stoppers)


class BatchedFit:
    """One prepared group: its program, runner, and how to turn the device history into results."""

    def __init__(self, trainer: BatchedTrainer, program: EpochProgram, loaders: list[TensorLoader],
                 stoppers: list[EarlyStopping | None]) -> None:
        self.trainer, self.program = trainer, program
        self.loaders, self.stoppers = loaders, stoppers
        self.start_states = [loader.generator.get_state() for loader in loaders]
        self.runner = EpochRunner(program, trainer.cuda_graphs)
        self.epochs = int(program.max_epochs.max())
        self.done = 0
        self.finished = False

    def step(self) -> None:
        """Run the next epoch (or mark the fit finished)."""
        if self.done >= self.epochs or (self.done and not self.runner.still_active()):
            self.finished = True
            return
        order = self.program.train.permutations() if self.program.train.shuffle else None
        self.runner.run_epoch(order)
        self.done += 1

    def results(self) -> list[FitResult]:
        """Read the device history once; load weights, optimizer and loader states back."""
        if self.runner.cuda:
            torch.cuda.current_stream(self.program.order.device).wait_stream(self.runner.stream)
        p = self.program
        history = p.history[: self.done].cpu()
        epochs_done = p.epochs_done.tolist()
        nb, nt = len(p.train_batches), len(p.test_batches)
        fits, outcomes = [], []
        for i, model in enumerate(self.trainer.models):
            rows = history[: epochs_done[i], i]
            fit = FitResult(len(rows), rows[:, :nb].reshape(-1).tolist(),
                            [100.0 * c / p.train_seen for c in rows[:, nb + nt].tolist()],
                            rows[:, nb: nb + nt].reshape(-1).tolist(),
                            [100.0 * c / p.test_seen for c in rows[:, nb + nt + 1].tolist()])
            failure = None
            if bool(p.diverged[i]):
                fit, failure = _divergence(fit, nb, nt)
            model.load_state_dict(self.trainer.stacked.state_dict(i))
            self.trainer.optimizer.load_into(self.trainer.optimizers[i], i)
            self._restore_generator(i, epochs_done[i])
            outcomes.append(self._outcome(i, failure))
            fits.append(fit)
        self.trainer.outcomes = outcomes
        return fits

    def _restore_generator(self, index: int, epochs: int) -> None:
        generator = self.loaders[index].generator
        generator.set_state(self.start_states[index])
        if self.program.train.shuffle:
            for _ in range(epochs):
                torch.randperm(self.program.train.size, generator=generator)

    def _outcome(self, index: int, failure: str | None) -> ModelOutcome:
        p = self.program
        stopper = self.stoppers[index]
        es = None
        if stopper is not None:
            best = float(p.es_best[index] * p.es_sign[index])
            es = {"best": None if abs(best) == float("inf") else best,
                  "best_epoch": int(p.es_best_epoch[index]),
                  "bad_epochs": int(p.es_bad[index]), "best_state": None}
        best_state = self.trainer.stacked.state_dict(index, p.best) if p.best is not None else None
        stopped = bool(p.stopped[index]) and failure is None
        return ModelOutcome(stopped, failure, int(p.best_epoch[index]), best_state, es)


def fit_many(fits: Sequence[BatchedFit], verbose: bool = False) -> list[list[FitResult]]:
    """Run prepared fits to the end, interleaving their epochs (on CUDA: each on its own stream)."""
    total = sum(f.epochs for f in fits)
    with progress(total=total, verbose=verbose, desc="batched epochs") as bar:
        pending = list(fits)
        while pending:
            for fit in pending:
                fit.step()
                if not fit.finished:
                    bar.update()
            pending = [f for f in pending if not f.finished]
    return [f.results() for f in fits]


def _divergence(fit: FitResult, nb: int, nt: int) -> tuple[FitResult, str]:
    """The history before the first non-finite loss, and the single-model trainer's message."""
    for epoch in range(fit.num_epochs):
        for phase, losses, per in (("train", fit.train_loss, nb), ("test", fit.test_loss, nt)):
            for batch, loss in enumerate(losses[epoch * per: (epoch + 1) * per]):
                if not math.isfinite(loss):
                    return fit.first_epochs(epoch), str(TrainingDivergedError(
                        f"{phase} loss became {loss} at epoch {epoch + 1}, batch {batch + 1}; "
                        "lower the learning rate or check the data"))
    return fit, "training diverged"
