"""Runs that can train together go to the batched trainer (`training.accel.BatchedTrainer`).

A group's configs differ only in `PER_RUN` fields; `auto` batches groups of at least 2 runs of
models under `MAX_AUTO_PARAMS` parameters, `on` every run it can.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from scratchlab.errors import TrainingDivergedError
from scratchlab.experiments.build import build_optimizer, build_run_model
from scratchlab.experiments.config import ExperimentConfig
from scratchlab.experiments.records import RunRecord, Timings
from scratchlab.experiments.run import (
    checkpoint_config_path,
    checkpoint_files,
    early_stopping,
    failed_record,
    fit_summary,
    make_record,
)
from scratchlab.experiments.run_data import RunData, load_run_data
from scratchlab.models import summary as model_summary
from scratchlab.models.stacked import architecture, unsupported_reason
from scratchlab.training import EarlyStopping, FitResult, Timer
from scratchlab.training.accel.batched import BatchedFit, BatchedTrainer, ModelOutcome, fits_in_turn
from scratchlab.training.checkpoints import checkpoint_state, make_trainer_state
from scratchlab.util import Laps, SharedClock, atomic_write_json, resolve_device, seed_everything
from scratchlab.util.tensors import TensorPool

MAX_AUTO_PARAMS = 1_000_000
MAX_GROUP = 256  # models per batched group (larger groups are split)
SMALLEST_GROUP = {"auto": 2, "on": 1}  # `auto` trains a lone run alone, `on` batches it too
PER_RUN = frozenset({"run_name", "out_dir", "seed", "lr", "reg", "momentum", "epochs",
                     "early_stopping", "early_stopping_monitor", "early_stopping_min_delta",
                     "checkpoints", "dataset_options", "data_root", "train_limit", "test_limit",
                     "normalize"})


def batchable(config: ExperimentConfig) -> bool:
    """Whether the batched trainer can train a run, judged from its config alone."""
    m, o, s = config.model, config.optim, config.speed
    return (m.engine == "torch" and config.trainer == "classic" and o.optimizer_impl == "torch"
            and o.lr_schedule == "constant" and not config.data.augment and s.precision == "fp32"
            and not (s.compile or s.ddp or s.cuda_graph) and m.dropout <= 0 and not m.batchnorm
            and not (config.budget.eval_train or config.tensorboard is not None))


def batch_key(config: ExperimentConfig) -> str:
    """Runs with the same key may train together: every field but the per-run ones is equal."""
    shared = {k: v for k, v in config.flat().items() if k not in PER_RUN}
    return json.dumps(shared, sort_keys=True, default=str)


@dataclass
class Prepared:
    """One run built as `train_run` builds it: data on the device, model, optimizer."""

    config: ExperimentConfig
    data: RunData
    model: nn.Module
    optimizer: torch.optim.Optimizer
    device: torch.device
    laps: Laps  # its data and build seconds

    def signature(self) -> tuple[Any, ...]:
        """What runs trained together share: architecture, data shapes (sizes included), device."""
        x_train, x_test = self.data.train.tensors[0], self.data.test.tensors[0]
        return architecture(self.model), x_train.shape, x_test.shape, x_train.dtype, self.device


def prepare(config: ExperimentConfig, pool: TensorPool) -> Prepared:
    """Data, model and optimizer of a run in `train_run`'s RNG order (`pool`: equal data once)."""
    laps = Laps()
    seed_everything(config.seed)
    device = resolve_device(config.device)
    data = load_run_data(config, device)
    for loader in (data.train, data.test):
        loader.tensors = tuple(pool.intern(t) for t in loader.tensors)
    laps.mark("data")
    model = build_run_model(config, data.input_shape, data.num_classes)
    optimizer = build_optimizer(config, model)
    laps.mark("build")
    return Prepared(config, data, model, optimizer, device, laps)


def candidate_groups(configs: list[ExperimentConfig],
                     mode: str) -> tuple[list[list[ExperimentConfig]], list[ExperimentConfig]]:
    """Groups by `batch_key` of at least `SMALLEST_GROUP[mode]` runs, and the runs alone."""
    singles: list[ExperimentConfig] = []
    candidates: dict[str, list[ExperimentConfig]] = defaultdict(list)
    for config in configs:
        (candidates[batch_key(config)] if batchable(config) else singles).append(config)
    least = SMALLEST_GROUP[mode]
    singles += [c for members in candidates.values() if len(members) < least for c in members]
    return [members for members in candidates.values() if len(members) >= least], singles


def plan(configs: list[ExperimentConfig],
         mode: str) -> tuple[list[list[Prepared]], list[ExperimentConfig]]:
    """The batched groups (built) and the configs to run one by one (in `configs` order)."""
    pool = TensorPool()
    groups = [group for members in candidate_groups(configs, mode)[0]
              for group in _groups(members, mode, pool)]
    grouped = {id(p.config) for group in groups for p in group}
    return groups, [c for c in configs if id(c) not in grouped]


def _groups(members: list[ExperimentConfig], mode: str, pool: TensorPool) -> list[list[Prepared]]:
    """A candidate group's runs built and grouped by signature (at most `MAX_GROUP` each)."""
    by_signature: dict[tuple[Any, ...], list[Prepared]] = defaultdict(list)
    for p in _build(members, mode, pool):
        by_signature[p.signature()].append(p)
    return [group[i: i + MAX_GROUP] for group in by_signature.values()
            if len(group) >= SMALLEST_GROUP[mode] for i in range(0, len(group), MAX_GROUP)]


def _build(members: list[ExperimentConfig], mode: str, pool: TensorPool) -> list[Prepared]:
    """The runs of a candidate group that build; none when the first one's model doesn't qualify."""
    try:
        first = prepare(members[0], pool)
    except Exception:  # a run that fails to build fails the same way alone, where it is recorded
        return []
    params = sum(p.numel() for p in first.model.parameters())
    if unsupported_reason(first.model) or (mode == "auto" and params >= MAX_AUTO_PARAMS):
        return []
    built = [first]
    for config in members[1:]:
        with contextlib.suppress(Exception):
            built.append(prepare(config, pool))
    return built


def _steps(members: list[ExperimentConfig]) -> int:
    """The most training steps one run of a candidate group takes (a run of all the data: many)."""
    def steps(c: ExperimentConfig) -> int:
        batches = -(-(c.data.train_limit or 10**9) // c.budget.bs_train)
        return c.budget.epochs * min(batches, c.budget.batches or batches)
    return max(map(steps, members))


def run_batched(configs: list[ExperimentConfig], mode: str, collect: Callable[[RunRecord], None],
                verbose: bool = False) -> list[ExperimentConfig]:
    """Train every run that can be batched, report each through `collect`; return the others.

    The groups are built one at a time, the longest first, each while those before it keep the
    device busy (on CUDA they train side by side, each on its own stream; on a CPU one after
    another), and each group's records go to `collect` as soon as it is done. A group whose
    training fails (say, out of memory) leaves its runs to be run one by one.
    """
    candidates = sorted(candidate_groups(configs, mode)[0], key=_steps, reverse=True)
    pool, clock = TensorPool(), SharedClock()
    groups: dict[int, list[Prepared]] = {}

    def fits() -> Iterator[BatchedFit]:
        for members in candidates:
            for group in _groups(members, mode, pool):
                try:
                    fit = fit_of(group)
                except Exception as exc:  # e.g. out of memory
                    _failed(group, exc)
                    continue
                groups[id(fit)] = group
                clock.start(id(fit), len(group))
                yield fit

    trained: set[int] = set()
    for fit, outcome in fits_in_turn(fits(), verbose, isolate=True):
        group, seconds = groups.pop(id(fit)), clock.stop(id(fit))
        if isinstance(outcome, Exception):
            _failed(group, outcome)
            continue
        info = model_summary(group[0].model, group[0].data.input_shape)
        summary = {"params": info.params, "flops": info.flops, "batched": True,
                   "batched_group_size": len(group)}
        for p, result, model_outcome in zip(group, outcome, fit.trainer.outcomes, strict=True):
            collect(_record(p, result, model_outcome, seconds, summary))
        trained |= {id(p.config) for p in group}
    return [c for c in configs if id(c) not in trained]


def _failed(group: list[Prepared], exc: Exception) -> None:
    warnings.warn(f"batched training failed ({type(exc).__name__}: {exc}); running its "
                  f"{len(group)} runs one by one", stacklevel=3)


def split_for_workers(configs: list[ExperimentConfig], mode: str, jobs: int, parts_per_job: int = 8
                      ) -> tuple[list[list[ExperimentConfig]], list[ExperimentConfig]]:
    """Parts of about equal work (epochs x samples) for `jobs` workers, largest first; runs alone.

    A run's result does not depend on its group, so parts give what the whole group gives.
    """
    groups, singles = candidate_groups(configs, mode)

    def work(config: ExperimentConfig) -> int:
        return config.budget.epochs * (config.data.train_limit or 1)

    least = SMALLEST_GROUP[mode]  # chunks stay big enough to be batched
    target = max(1, sum(work(c) for m in groups for c in m) // (parts_per_job * jobs))
    parts: list[list[ExperimentConfig]] = []
    for members in groups:
        chunks: list[list[ExperimentConfig]] = [[]]
        for config in sorted(members,
                             key=lambda c: (c.data.train_limit or 0, c.data.test_limit or 0)):
            if sum(map(work, chunks[-1])) >= target and len(chunks[-1]) >= least:
                chunks.append([])
            chunks[-1].append(config)
        if len(chunks) > 1 and len(chunks[-1]) < least:  # too small alone: joins the one before
            chunks[-2:] = [chunks[-2] + chunks[-1]]
        parts += chunks
    parts.sort(key=lambda p: -sum(map(work, p)))
    return parts, singles


def run_part(config_data: list[dict[str, Any]], mode: str,
             threads: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """In a worker: `run_batched` on one part, dicts in and out: records and runs left over."""
    torch.set_num_threads(threads)
    records: list[RunRecord] = []
    rest = run_batched([ExperimentConfig.load(c) for c in config_data], mode, records.append)
    return [r.to_dict() for r in records], [c.to_dict() for c in rest]


def fit_of(group: list[Prepared]) -> BatchedFit:
    """The prepared fit of a group of runs (one BatchedTrainer, each run's data, epochs and
    early stopping), ready for `fit_many` (`fits_in_turn`) or to be stepped one epoch at a time."""
    c = group[0].config
    trainer = BatchedTrainer([p.model for p in group], [p.optimizer for p in group],
                             label_smoothing=c.optim.label_smoothing, device=group[0].device)
    return trainer.prepare(
        [p.data.train for p in group], [p.data.test for p in group],
        [p.config.budget.epochs for p in group], [early_stopping(p.config) for p in group],
        max_batches=c.budget.batches, keep_best=any(p.config.budget.checkpoints for p in group))


def _record(p: Prepared, fit: FitResult, outcome: ModelOutcome, seconds: float,
            summary: dict[str, Any]) -> RunRecord:
    """One run's record (and checkpoints) as `train_run` gives them (`summary`: its group's)."""
    if outcome.failure is not None:
        return failed_record(p.config, TrainingDivergedError(outcome.failure))
    per_epoch = [seconds / fit.num_epochs] * fit.num_epochs
    if p.config.budget.checkpoints:
        _save_checkpoints(p, fit, outcome, per_epoch)
    timings = Timings(train_seconds=seconds, seconds_per_epoch=per_epoch,
                      started_at=p.laps.started_at, **p.laps.seconds, fit_seconds=seconds)
    return make_record(p.config, fit, fit_summary(fit, **summary), timings, p.device)


def _save_checkpoints(p: Prepared, fit: FitResult, outcome: ModelOutcome,
                      per_epoch: list[float]) -> None:
    """`_last.pt` in the single trainer's format (resumable alone), `_best.pt`, `<run>.pt`."""
    files = checkpoint_files(p.config)
    atomic_write_json(checkpoint_config_path(p.config), p.config.to_dict())
    best_acc = fit.best_test_acc if fit.test_acc else None
    ewi = fit.num_epochs - fit.epochs_to_best
    callbacks: dict[str, Any] = {Timer.__name__: {"seconds": per_epoch}}  # as train_run's
    if outcome.early_stopping is not None:
        callbacks[EarlyStopping.__name__] = outcome.early_stopping
    trainer = make_trainer_state(p.model.state_dict(), p.optimizer, None, fit, outcome.stopped,
                                 callbacks)
    files.save_last(checkpoint_state(trainer, p.data.train, best_acc, ewi))
    if outcome.best_state is not None and outcome.best_epoch:
        best = make_trainer_state(outcome.best_state, None, None,
                                  fit.first_epochs(outcome.best_epoch), False, {})
        files.save_best(checkpoint_state(best, None, best_acc, 0))
        files.save_course(best_acc, 0, outcome.best_state)
