"""Runs that can train together go to the batched trainer (`training.accel.BatchedTrainer`).

A group's configs differ only in `PER_RUN` fields; `auto` batches groups of at least 2 runs of
models under `MAX_AUTO_PARAMS` parameters, `on` every run it can.
"""

from __future__ import annotations

import json
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
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
from scratchlab.training import FitResult
from scratchlab.training.accel import BatchedTrainer, ModelOutcome, fit_many
from scratchlab.training.accel.batched import BatchedFit
from scratchlab.training.accel.batched_state import TensorPool, architecture, unsupported_reason
from scratchlab.training.checkpoints import checkpoint_state
from scratchlab.util import atomic_write_json, resolve_device, seed_everything

MODES = ("auto", "on", "off")
MAX_AUTO_PARAMS = 1_000_000
MAX_GROUP = 256  # models per batched group (larger groups are split)
PER_RUN = frozenset({
    "run_name", "out_dir", "seed", "lr", "reg", "momentum", "epochs", "early_stopping",
    "early_stopping_monitor", "early_stopping_min_delta", "checkpoints", "dataset_options",
    "data_root", "train_limit", "test_limit", "normalize",
})


def config_obstacle(config: ExperimentConfig) -> str | None:
    """Why a run cannot be trained by the batched trainer, from its config alone (None: it can)."""
    m, o, s = config.model, config.optim, config.speed
    checks = [
        (m.engine != "torch", "the from-scratch engine"),
        (config.trainer != "classic", "the fast trainer"),
        (o.optimizer_impl != "torch", "scratchlab.optim optimizers"),
        (o.lr_schedule != "constant", "a learning-rate schedule"),
        (bool(config.data.augment), "augmentation"),
        (s.precision != "fp32", "mixed precision"),
        (s.compile or s.ddp or s.cuda_graph, "torch.compile, ddp or a CUDA graph"),
        (m.dropout > 0, "dropout"),
        (m.batchnorm, "batch normalisation"),
        (config.budget.eval_train or config.tensorboard is not None, "eval_train or tensorboard"),
    ]
    return next((reason for failed, reason in checks if failed), None)


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

    def signature(self) -> tuple[Any, ...]:
        x_train, x_test = self.data.train.tensors[0], self.data.test.tensors[0]
        return (architecture(self.model), self.data.train.dataset_size,
                self.data.test.dataset_size, tuple(x_train.shape[1:]), tuple(x_test.shape[1:]),
                x_train.dtype, str(self.device))


def prepare(config: ExperimentConfig, pool: TensorPool | None = None) -> Prepared:
    """Data, model and optimizer of a run in `train_run`'s RNG order (`pool`: equal data once)."""
    seed_everything(config.seed)
    device = resolve_device(config.device)
    data = load_run_data(config, device)
    if pool is not None:
        for loader in (data.train, data.test):
            loader.tensors = tuple(pool.intern(t) for t in loader.tensors)
    model = build_run_model(config, data.input_shape, data.num_classes)
    return Prepared(config, data, model, build_optimizer(config, model), device)


def smallest_group(mode: str) -> int:
    """Runs a batched group needs: `auto` trains a lone run alone, `on` batches it too."""
    return 2 if mode == "auto" else 1


def candidate_groups(configs: list[ExperimentConfig],
                     mode: str) -> tuple[list[list[ExperimentConfig]], list[ExperimentConfig]]:
    """Groups by `batch_key` of at least `smallest_group(mode)` runs, and the runs alone."""
    singles: list[ExperimentConfig] = []
    candidates: dict[str, list[ExperimentConfig]] = defaultdict(list)
    for config in configs:
        (singles if config_obstacle(config) else candidates[batch_key(config)]).append(config)
    least = smallest_group(mode)
    singles += [c for members in candidates.values() if len(members) < least for c in members]
    return [members for members in candidates.values() if len(members) >= least], singles


Plan = tuple[list[list[Prepared]], list[ExperimentConfig]]  # batched groups, runs alone


def plan(configs: list[ExperimentConfig], mode: str) -> Plan:
    """The batched groups (built) and the configs to run one by one."""
    pool = TensorPool()
    candidates, singles = candidate_groups(configs, mode)
    groups: list[list[Prepared]] = []
    for members in candidates:
        built, rest = _build(members, mode, pool)
        singles += rest
        by_signature: dict[tuple[Any, ...], list[Prepared]] = defaultdict(list)
        for p in built:
            by_signature[p.signature()].append(p)
        for group in by_signature.values():
            if len(group) < smallest_group(mode):
                singles += [p.config for p in group]
                continue
            groups += [group[i: i + MAX_GROUP] for i in range(0, len(group), MAX_GROUP)]
    order = {id(c): i for i, c in enumerate(configs)}
    return groups, sorted(singles, key=lambda c: order[id(c)])


def _build(members: list[ExperimentConfig], mode: str,
           pool: TensorPool) -> tuple[list[Prepared], list[ExperimentConfig]]:
    """Build every run of a candidate group; the first one decides whether the model qualifies."""
    try:
        first = prepare(members[0], pool)
    except Exception:  # the run fails the same way alone, where its failure is recorded
        return [], members
    params = sum(p.numel() for p in first.model.parameters())
    if unsupported_reason(first.model) or (mode == "auto" and params >= MAX_AUTO_PARAMS):
        return [], members
    built, rest = [first], []
    for config in members[1:]:
        try:
            built.append(prepare(config, pool))
        except Exception:
            rest.append(config)
    return built, rest


def run_batched(configs: list[ExperimentConfig], mode: str, collect: Callable[[RunRecord], None],
                verbose: bool = False) -> list[ExperimentConfig]:
    """Train every run that can be batched, report each through `collect`; return the others."""
    groups, singles = plan(configs, mode)
    if not groups:
        return singles
    concurrent = all(g[0].device.type == "cuda" for g in groups)  # groups overlap on CUDA streams
    batches = [groups] if concurrent else [[g] for g in groups]
    for batch in batches:
        singles += _train(batch, collect, verbose)
    order = {id(c): i for i, c in enumerate(configs)}
    return sorted(singles, key=lambda c: order[id(c)])


def split_for_workers(configs: list[ExperimentConfig], mode: str, jobs: int, parts_per_job: int = 8
                      ) -> tuple[list[list[ExperimentConfig]], list[ExperimentConfig]]:
    """Parts of about equal work (epochs x samples) for `jobs` workers, largest first; runs alone.

    A run's result does not depend on its group, so parts give what the whole group gives.
    """
    groups, singles = candidate_groups(configs, mode)

    def work(config: ExperimentConfig) -> int:
        return config.budget.epochs * (config.data.train_limit or 1)

    least = smallest_group(mode)  # chunks stay big enough to be batched
    target = max(1, sum(work(c) for m in groups for c in m) // (parts_per_job * jobs))
    parts: list[list[ExperimentConfig]] = []
    for members in groups:
        chunks: list[list[ExperimentConfig]] = [[]]
        for config in sorted(members,
                             key=lambda c: (c.data.train_limit or 0, c.data.test_limit or 0)):
            if sum(map(work, chunks[-1])) >= target and len(chunks[-1]) >= least:
                chunks.append([])
            chunks[-1].append(config)
        if len(chunks) > 1 and len(chunks[-1]) < least:
            tail = chunks.pop()
            chunks[-1] += tail
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


def _train(groups: list[list[Prepared]], collect: Callable[[RunRecord], None],
           verbose: bool) -> list[ExperimentConfig]:
    """Train groups together and hand back their records; on an error, hand their runs back."""
    try:
        fits = [_fit_of(group) for group in groups]
        start = time.perf_counter()
        results = fit_many(fits, verbose=verbose)
        seconds = time.perf_counter() - start
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # e.g. out of memory: the runs train one by one instead
        count = sum(map(len, groups))
        warnings.warn(f"batched training failed ({type(exc).__name__}: {exc}); running its "
                      f"{count} runs one by one", stacklevel=2)
        return [p.config for group in groups for p in group]
    total = sum(len(group) for group in groups)
    for group, fit_, group_fits in zip(groups, fits, results, strict=True):
        info = model_summary(group[0].model, group[0].data.input_shape)
        shared = {"params": info.params, "flops": info.flops, "seconds": seconds / total,
                  "group": len(group)}
        for p, fit, outcome in zip(group, group_fits, fit_.trainer.outcomes, strict=True):
            collect(_record(p, fit, outcome, shared))
    return []


def _fit_of(group: list[Prepared]) -> BatchedFit:
    c = group[0].config
    trainer = BatchedTrainer([p.model for p in group], [p.optimizer for p in group],
                             label_smoothing=c.optim.label_smoothing, device=group[0].device)
    return trainer.prepare(
        [p.data.train for p in group], [p.data.test for p in group],
        [p.config.budget.epochs for p in group], [early_stopping(p.config) for p in group],
        max_batches=c.budget.batches, keep_best=any(p.config.budget.checkpoints for p in group))


def _record(p: Prepared, fit: FitResult, outcome: ModelOutcome,
            shared: dict[str, Any]) -> RunRecord:
    """One run's record (and checkpoints) as `train_run` gives them."""
    config = p.config
    if outcome.failure is not None:
        return failed_record(config, TrainingDivergedError(outcome.failure))
    seconds = shared["seconds"]
    per_epoch = [seconds / fit.num_epochs] * fit.num_epochs
    if config.budget.checkpoints:
        _save_checkpoints(p, fit, outcome, per_epoch)
    summary = fit_summary(fit, shared["params"], shared["flops"], batched=True,
                          batched_group_size=shared["group"])
    return make_record(config, fit, summary,
                       Timings(train_seconds=seconds, seconds_per_epoch=per_epoch), p.device)


def _save_checkpoints(p: Prepared, fit: FitResult, outcome: ModelOutcome,
                      per_epoch: list[float]) -> None:
    """`_last.pt` in the single trainer's format (resumable alone), `_best.pt`, `<run>.pt`."""
    files = checkpoint_files(p.config)
    atomic_write_json(checkpoint_config_path(p.config), p.config.to_dict())
    best_acc = fit.best_test_acc if fit.test_acc else None
    ewi = fit.num_epochs - fit.epochs_to_best
    callbacks: dict[str, Any] = {"Timer": {"seconds": per_epoch}}
    if outcome.early_stopping is not None:
        callbacks["EarlyStopping"] = outcome.early_stopping
    trainer = {"model": p.model.state_dict(), "optimizer": p.optimizer.state_dict(),
               "scheduler": None, "history": fit.to_dict(), "should_stop": outcome.stopped,
               "callbacks": callbacks}
    files.save_last(checkpoint_state(trainer, p.data.train, best_acc, ewi))
    if outcome.best_state is not None and outcome.best_epoch:
        best = fit.first_epochs(outcome.best_epoch)
        state = {"model": outcome.best_state, "optimizer": None, "scheduler": None,
                 "history": best.to_dict(), "should_stop": False, "callbacks": {}}
        files.save_best(checkpoint_state(state, None, best_acc, 0))
        files.save_course(best_acc, 0, outcome.best_state)
