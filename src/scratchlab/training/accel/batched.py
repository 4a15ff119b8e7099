"""Train many small models of one architecture at once, each as if it were trained alone.

Each model gets the `FitResult` that `ClassifierTrainer.fit` gives it alone (up to float32
round-off); the epochs run on the device (`batched_program`), on CUDA each group on its own stream
and, after `WARMUP_EPOCHS` eager epochs, replayed as a CUDA graph.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from scratchlab.errors import ConfigError
from scratchlab.models.stacked import StackedModels
from scratchlab.training.accel.batched_optim import BatchedOptimizer
from scratchlab.training.accel.batched_program import EpochProgram
from scratchlab.training.accel.batched_state import StackedData
from scratchlab.training.callbacks import as_early_stopping, divergence
from scratchlab.training.loaders import TensorLoader
from scratchlab.training.results import FitResult
from scratchlab.util import progress
from scratchlab.util.cuda_graphs import try_capture

WARMUP_EPOCHS = 2  # eager epochs before the CUDA graph capture (they also warm up cuBLAS/cuDNN)
# epochs a group may have queued on its stream: launching more would make the host wait for the
# device (a full launch queue) while the other groups' streams run dry
MAX_EPOCHS_QUEUED = 4
POLL_SECONDS = 1e-4  # the host's pause when every group has its queue full


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
        self.models, self.optimizers = list(models), list(optimizers)
        if device is None:  # where the first model lives
            device = next((p.device for m in self.models[:1] for p in m.parameters()), "cpu")
        self.device = torch.device(device)
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
        fit = self.prepare(dl_train, dl_test, num_epochs, early_stopping, max_batches, keep_best)
        return fit_many([fit], verbose)[0]

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
        return BatchedFit(self, EpochProgram(self.stacked, self.optimizer, train, test, epochs,
                                             stoppers, max_batches, self.label_smoothing,
                                             keep_best))


class BatchedFit:
    """One prepared group: runs its program's epochs and turns the device history into results."""

    def __init__(self, trainer: BatchedTrainer, program: EpochProgram) -> None:
        self.trainer, self.program = trainer, program
        self.start_states = [g.get_state() for g in program.train.generators]
        self.epochs = int(program.max_epochs.max())
        self.done = 0
        device = program.order.device
        self.cuda = device.type == "cuda"
        self.stream = torch.cuda.Stream(device) if self.cuda else None
        if self.stream is not None:  # the program's tensors were made on the current stream
            self.stream.wait_stream(torch.cuda.current_stream(device))
        self.on_stream = torch.cuda.stream(self.stream) if self.cuda else contextlib.nullcontext()
        self.use_graph = self.cuda and trainer.cuda_graphs is not False
        self.graph: torch.cuda.CUDAGraph | None = None
        # whether any model was still active, copied back without waiting (CUDA)
        self.flag = torch.ones((), dtype=torch.bool).pin_memory() if self.cuda else None
        self.flag_event = torch.cuda.Event() if self.cuda else None
        self.queued: deque[torch.cuda.Event] = deque()  # one event per epoch still on the stream

    def ready(self) -> bool:
        """Whether another epoch can be queued without the host waiting (always on a CPU)."""
        while self.queued and self.queued[0].query():
            self.queued.popleft()
        return len(self.queued) < MAX_EPOCHS_QUEUED

    def idle(self) -> bool:
        """Whether every epoch queued has run (always on a CPU)."""
        return self.ready() and not self.queued

    def step(self) -> bool:
        """Run the next epoch; False (running none) once every model is done."""
        if self.done >= self.epochs or (self.done and not self._still_active()):
            return False
        train = self.program.train
        with self.on_stream:
            if train.shuffle:  # this epoch's order, drawn as each loader would
                order = train.permutations()
                self.program.order.copy_(order.pin_memory() if self.cuda else order,
                                         non_blocking=self.cuda)
            if self.use_graph and self.graph is None and self.done >= WARMUP_EPOCHS:
                self._capture()
            if self.graph is not None:
                self.graph.replay()
            else:
                self.program.run()
            if self.cuda:
                self.queued.append(torch.cuda.Event())
                self.queued[-1].record(self.stream)
        self.done += 1
        return True

    def _capture(self) -> None:
        self.graph, _ = try_capture(self.program.run, self.stream, "the batched epoch")
        self.use_graph = self.graph is not None  # else eager: the results are the same

    def _still_active(self) -> bool:
        """Whether any model has epochs left, as last seen (on CUDA without waiting for it)."""
        if not self.cuda:
            return bool(self.program.active().any())
        if not self.flag_event.query():
            return True
        known = bool(self.flag)
        with self.on_stream:
            self.flag.copy_(self.program.active().any(), non_blocking=True)
            self.flag_event.record(self.stream)
        return known

    def results(self) -> list[FitResult]:
        """Read the device history once; load weights, optimizer and loader states back."""
        if self.cuda:
            torch.cuda.current_stream(self.program.order.device).wait_stream(self.stream)
        p, trainer = self.program, self.trainer
        history = p.history[: self.done].cpu()
        epochs_done, diverged = p.epochs_done.tolist(), p.diverged.tolist()
        nb, nt = len(p.train_batches), len(p.test_batches)
        fits, outcomes = [], []
        for i, model in enumerate(trainer.models):
            rows = history[: epochs_done[i], i]
            fit = FitResult(len(rows), rows[:, :nb].reshape(-1).tolist(),
                            [100.0 * c / p.train_seen for c in rows[:, nb + nt].tolist()],
                            rows[:, nb: nb + nt].reshape(-1).tolist(),
                            [100.0 * c / p.test_seen for c in rows[:, nb + nt + 1].tolist()])
            fit, failure = _divergence(fit, nb, nt) if diverged[i] else (fit, None)
            model.load_state_dict(trainer.stacked.state_dict(i))
            trainer.optimizer.load_into(trainer.optimizers[i], i)
            p.train.generators[i].set_state(self.start_states[i])
            for _ in range(epochs_done[i] if p.train.shuffle else 0):  # its epochs' draws
                torch.randperm(p.train.size, generator=p.train.generators[i])
            outcomes.append(self._outcome(i, fit, failure))
            fits.append(fit)
        trainer.outcomes = outcomes
        return fits

    def _outcome(self, index: int, fit: FitResult, failure: str | None) -> ModelOutcome:
        p = self.program
        es = None
        if p.es_on[index]:
            best = float(p.es_best[index] * p.es_sign[index])
            es = {"best": None if math.isinf(best) else best,
                  "best_epoch": int(p.es_best_epoch[index]),
                  "bad_epochs": int(p.es_bad[index]), "best_state": None}
        best_state = self.trainer.stacked.state_dict(index, p.best) if p.best is not None else None
        stopped = bool(p.stopped[index]) and failure is None
        return ModelOutcome(stopped, failure, fit.epochs_to_best, best_state, es)


def fit_many(fits: Sequence[BatchedFit], verbose: bool = False) -> list[list[FitResult]]:
    """Run prepared fits to the end (as `fits_in_turn`); their results in the order of `fits`."""
    done = {id(fit): results for fit, results in fits_in_turn(fits, verbose)}
    return [done[id(fit)] for fit in fits]


def fits_in_turn(fits: Iterable[BatchedFit], verbose: bool = False, isolate: bool = False
                 ) -> Iterator[tuple[BatchedFit, list[FitResult] | Exception]]:
    """Run fits to the end, interleaving their epochs; yield each with its results once it is done.

    On CUDA each fit runs on its own stream, an epoch queued for each fit whose stream has fewer
    than `MAX_EPOCHS_QUEUED` to run, and a finished fit is read once its stream has run them all,
    so that the host's work on its results overlaps the other streams. `fits` may build each fit
    as it is asked for: the next is taken only when every running fit has a full queue (on a CPU,
    when the fits before it are done), so that building it overlaps the device's work too.
    With `isolate`, a fit whose epoch or results raise is yielded with the exception, and the
    others go on; without, the exception propagates.
    """
    source = iter(fits)
    running: list[BatchedFit] = []
    # done or failed (with the exception); their streams may still run queued epochs, whose
    # tensors must live until then
    finished: list[tuple[BatchedFit, Exception | None]] = []
    more = True
    with progress(total=0, verbose=verbose, desc="batched epochs") as bar:
        while running or finished or more:
            for fit, error in [done for done in finished if done[0].idle()]:
                finished.remove((fit, error))
                yield fit, _guarded(fit.results, isolate) if error is None else error
            ready = [fit for fit in running if fit.ready()]
            if not ready:
                fit = next(source, None) if more else None
                if fit is not None:
                    running.append(fit)
                    bar.total += fit.epochs
                    bar.refresh()
                else:
                    more = False
                    if running or finished:
                        time.sleep(POLL_SECONDS)
                continue
            for fit in ready:
                stepped = _guarded(fit.step, isolate)
                if stepped is True:
                    bar.update(1)
                    continue
                running.remove(fit)
                finished.append((fit, stepped if isinstance(stepped, Exception) else None))


def _guarded(call: Callable[[], Any], isolate: bool) -> Any:
    """`call()`, or with `isolate` the exception it raised."""
    if not isolate:
        return call()
    try:
        return call()
    except Exception as exc:  # the caller decides what becomes of this fit's runs
        return exc


def _divergence(fit: FitResult, nb: int, nt: int) -> tuple[FitResult, str]:
    """The history before the diverged (last) epoch, and the single-model trainer's message."""
    epoch = fit.num_epochs - 1
    problems = (divergence(phase, losses[epoch * per:], epoch) for phase, losses, per in
                (("train", fit.train_loss, nb), ("test", fit.test_loss, nt)))
    problem = next((p for p in problems if p), None)
    return (fit, "training diverged") if problem is None else (fit.first_epochs(epoch), problem)
