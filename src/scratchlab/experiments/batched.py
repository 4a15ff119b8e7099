"""Sweeps through the batched trainer: runs that can train together are trained together.

`run_batched(configs, mode, collect)` groups the configs whose runs differ only in what the
batched trainer can vary per model (`PER_RUN`: seed, lr, momentum, weight decay, epochs, early
stopping, data options and limits, output), builds each run exactly as `run_experiment` does
(`seed_everything`, `pipeline.build_data`, `pipeline.build_run_model`, `pipeline.build_optimizer`),
splits a group further by architecture and data sizes, trains each group with
`training.batched.BatchedTrainer`, and writes every run's results JSON (and checkpoints) in the
form `run_experiment` writes them. Groups always start from scratch: a group interrupted before
it finished is trained again in full (finished runs are skipped by the executors).

Rule for `mode="auto"`: a group is batched when it has at least 2 runs and its model has fewer
than `MAX_AUTO_PARAMS` parameters (`run_configs` does not batch CPU runs that worker processes
run: alone there they are as fast or faster); `mode="on"` batches every run the batched trainer
can train (even alone, even large; with CPU worker processes, `split_for_workers` cuts the groups
into parts for them). Runs it cannot train (scratch engine or optimizers, the fast trainer,
augmentation, bf16, torch.compile, dropout, BatchNorm) are returned to be run one by one.
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
from scratchlab.experiments.config import ExperimentConfig
from scratchlab.experiments.executors import RunOutcome
from scratchlab.experiments.pipeline import RunData, build_data, build_optimizer, build_run_model
from scratchlab.experiments.runner import (
    checkpoint_prefix,
    early_stopping,
    record_checkpoint_config,
    record_failure,
    timing_path,
    write_result,
)
from scratchlab.models import summary as model_summary
from scratchlab.training import CheckpointFiles, FitResult
from scratchlab.training.batched import BatchedFit, BatchedTrainer, ModelOutcome, fit_many
from scratchlab.training.batched_state import TensorPool, architecture, unsupported_reason
from scratchlab.util import atomic_write_json, get_rng_state, resolve_device, seed_everything

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
    checks = [
        (getattr(config, "engine", "torch") != "torch", "the from-scratch engine"),
        (getattr(config, "trainer", "classic") != "classic", "the fast trainer"),
        (config.optimizer_impl != "torch", "scratchlab.optim optimizers"),
        (bool(config.augment), "augmentation"),
        (config.precision != "fp32", "mixed precision"),
        (config.compile, "torch.compile"),
        (config.dropout > 0, "dropout"),
        (config.batchnorm, "batch normalisation"),
    ]
    return next((reason for failed, reason in checks if failed), None)


def batch_key(config: ExperimentConfig) -> str:
    """Runs with the same key may train together: every field but the per-run ones is equal."""
    shared = {k: v for k, v in config.to_dict().items() if k not in PER_RUN}
    return json.dumps(shared, sort_keys=True, default=str)


@dataclass
class Prepared:
    """One run built as `run_experiment` builds it: data on the device, model, optimizer."""

    config: ExperimentConfig
    data: RunData
    model: nn.Module
    optimizer: torch.optim.Optimizer
    device: torch.device

    def signature(self) -> tuple[Any, ...]:
        x_train, x_test = self.data.train.tensors[0], self.data.test.tensors[0]
        return (architecture(self.model), self.data.train.dataset_size, self.data.test.dataset_size,
                tuple(x_train.shape[1:]), tuple(x_test.shape[1:]), x_train.dtype, str(self.device))


def prepare(config: ExperimentConfig, pool: TensorPool | None = None) -> Prepared:
    """Data, model and optimizer of a run, drawn from the global RNG in `run_experiment`'s order.

    With a `pool`, data equal to an earlier run's is replaced by that run's tensors (kept once).
    """
    seed_everything(config.seed)
    device = resolve_device(config.device)
    data = build_data(config, device)
    if pool is not None:
        for loader in (data.train, data.test):
            loader.tensors = tuple(pool.intern(t) for t in loader.tensors)
    model = build_run_model(config, data.input_shape, data.num_classes)
    return Prepared(config, data, model, build_optimizer(config, model), device)


def smallest_group(mode: str) -> int:
    """Runs a batched group needs: `auto` trains a lone run alone, `on` batches it too."""
    return 2 if mode == "auto" else 1


def candidate_groups(configs: list[ExperimentConfig], mode: str) -> tuple[list[list[ExperimentConfig]], list[ExperimentConfig]]:
    """The runs that may train together, grouped by `batch_key` (groups of at least
    `smallest_group(mode)` runs), and the configs to run one by one."""
    singles: list[ExperimentConfig] = []
    candidates: dict[str, list[ExperimentConfig]] = defaultdict(list)
    for config in configs:
        (singles if config_obstacle(config) else candidates[batch_key(config)]).append(config)
    least = smallest_group(mode)
    singles += [c for members in candidates.values() if len(members) < least for c in members]
    return [members for members in candidates.values() if len(members) >= least], singles


def plan(configs: list[ExperimentConfig], mode: str) -> tuple[list[list[Prepared]], list[ExperimentConfig]]:
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
    order = {c.run_name: i for i, c in enumerate(configs)}
    return groups, sorted(singles, key=lambda c: order[c.run_name])


def _build(members: list[ExperimentConfig], mode: str, pool: TensorPool) -> tuple[list[Prepared], list[ExperimentConfig]]:
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


def run_batched(configs: list[ExperimentConfig], mode: str, collect: Callable[[RunOutcome], None],
                verbose: bool = False) -> list[ExperimentConfig]:
    """Train every run that can be batched, report each through `collect`; return the others."""
    groups, singles = plan(configs, mode)
    if not groups:
        return singles
    concurrent = all(g[0].device.type == "cuda" for g in groups)  # groups overlap on CUDA streams
    batches = [groups] if concurrent else [[g] for g in groups]
    for batch in batches:
        singles += _train(batch, collect, verbose)
    order = {c.run_name: i for i, c in enumerate(configs)}
    return sorted(singles, key=lambda c: order[c.run_name])


def split_for_workers(configs: list[ExperimentConfig], mode: str, jobs: int, parts_per_job: int = 8) -> tuple[list[list[ExperimentConfig]], list[ExperimentConfig]]:
    """About `parts_per_job * jobs` parts of equal work (epochs x training samples) for `jobs` worker
    processes, largest first, and the runs to run one by one.

    Each candidate group is cut into consecutive chunks (its runs sorted by data size, so runs that
    can share a batched group stay together); a run's result does not depend on which runs it
    trains with, so chunks give the results the whole group gives. Many small parts keep every
    worker busy to the end although the work of a run is only estimated.
    """
    groups, singles = candidate_groups(configs, mode)

    def work(config: ExperimentConfig) -> int:
        return config.epochs * (config.train_limit or 1)

    least = smallest_group(mode)  # chunks stay big enough to be batched
    target = max(1, sum(work(c) for m in groups for c in m) // (parts_per_job * jobs))
    parts: list[list[ExperimentConfig]] = []
    for members in groups:
        chunks: list[list[ExperimentConfig]] = [[]]
        for config in sorted(members, key=lambda c: (c.train_limit or 0, c.test_limit or 0)):
            if sum(map(work, chunks[-1])) >= target and len(chunks[-1]) >= least:
                chunks.append([])
            chunks[-1].append(config)
        if len(chunks) > 1 and len(chunks[-1]) < least:
            tail = chunks.pop()
            chunks[-1] += tail
        parts += chunks
    parts.sort(key=lambda p: -sum(map(work, p)))
    return parts, singles


def run_part(config_data: list[dict[str, Any]], mode: str, threads: int) -> tuple[list[RunOutcome], list[dict[str, Any]]]:
    """In a worker process: `run_batched` on one part (configs as dicts); its outcomes and the runs left over."""
    torch.set_num_threads(threads)
    outcomes: list[RunOutcome] = []
    rest = run_batched([ExperimentConfig.create(**c) for c in config_data], mode, outcomes.append)
    return outcomes, [c.to_dict() for c in rest]


def _train(groups: list[list[Prepared]], collect: Callable[[RunOutcome], None], verbose: bool) -> list[ExperimentConfig]:
    """Train groups together and write their results; on an error, hand their runs back."""
    try:
        fits = [_fit_of(group) for group in groups]
        start = time.perf_counter()
        results = fit_many(fits, verbose=verbose)
        seconds = time.perf_counter() - start
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # e.g. out of memory: the runs train one by one instead
        warnings.warn(f"batched training failed ({type(exc).__name__}: {exc}); running its {sum(map(len, groups))} runs one by one",
                      stacklevel=2)
        return [p.config for group in groups for p in group]
    total = sum(len(group) for group in groups)
    for group, fit_, group_fits in zip(groups, fits, results, strict=True):
        info = model_summary(group[0].model, group[0].data.input_shape)
        shared = {"params": info.params, "flops": info.flops, "seconds": seconds / total, "group": len(group)}
        for p, fit, outcome in zip(group, group_fits, fit_.trainer.outcomes, strict=True):
            collect(_write(p, fit, outcome, shared))
    return []


def _fit_of(group: list[Prepared]) -> BatchedFit:
    c = group[0].config
    trainer = BatchedTrainer([p.model for p in group], [p.optimizer for p in group],
                             label_smoothing=c.label_smoothing, device=group[0].device)
    return trainer.prepare([p.data.train for p in group], [p.data.test for p in group],
                           [p.config.epochs for p in group], [early_stopping(p.config) for p in group],
                           max_batches=c.batches, keep_best=any(p.config.checkpoints for p in group))


def _write(p: Prepared, fit: FitResult, outcome: ModelOutcome, shared: dict[str, Any]) -> RunOutcome:
    """Write one run's results (and checkpoints) as `run_experiment` would."""
    config = p.config
    if outcome.failure is not None:
        failure = record_failure(config, TrainingDivergedError(outcome.failure))
        return RunOutcome(config.run_name, "failed", failure.error)
    seconds = shared["seconds"]
    per_epoch = [seconds / fit.num_epochs] * fit.num_epochs
    if config.checkpoints:
        _save_checkpoints(p, fit, outcome, per_epoch)
    summary = {
        "best_test_acc": fit.best_test_acc,
        "final_test_acc": fit.test_acc[-1] if fit.test_acc else None,
        "final_train_acc": fit.train_acc[-1] if fit.train_acc else None,
        "epochs": fit.num_epochs,
        "epochs_to_best": fit.epochs_to_best,
        "params": shared["params"],
        "flops": shared["flops"],
        "train_seconds": seconds,
        "seconds_per_epoch": per_epoch,
        "batched": True,
        "batched_group_size": shared["group"],
    }
    write_result(config, fit, summary, p.device)
    return RunOutcome(config.run_name, "ok")


def _save_checkpoints(p: Prepared, fit: FitResult, outcome: ModelOutcome, per_epoch: list[float]) -> None:
    """`<run>_last.pt` in the single trainer's format (a single run can resume from it) and `<run>_best.pt`."""
    prefix = checkpoint_prefix(p.config)
    files = CheckpointFiles(prefix)
    record_checkpoint_config(p.config)
    best_acc = fit.best_test_acc if fit.test_acc else None
    files.save_last({
        "epoch": fit.num_epochs, "history": fit.to_dict(), "best_acc": best_acc, "stopped": outcome.stopped,
        "model": p.model.state_dict(), "optimizer": p.optimizer.state_dict(), "scheduler": None,
        "early_stopping": outcome.early_stopping, "loader": p.data.train.state_dict(), "rng": get_rng_state(),
    })
    if outcome.best_state is not None and outcome.best_epoch:
        best = _truncated(fit, outcome.best_epoch)
        files.save_best({
            "epoch": best.num_epochs, "history": best.to_dict(), "best_acc": best_acc, "stopped": False,
            "model": outcome.best_state, "optimizer": None, "scheduler": None, "early_stopping": None,
            "loader": None, "rng": None,
        })
    atomic_write_json(timing_path(p.config), per_epoch, indent=None)


def _truncated(fit: FitResult, epochs: int) -> FitResult:
    per_train = len(fit.train_loss) // max(fit.num_epochs, 1)
    per_test = len(fit.test_loss) // max(fit.num_epochs, 1)
    return FitResult(epochs, fit.train_loss[: epochs * per_train], fit.train_acc[:epochs],
                     fit.test_loss[: epochs * per_test], fit.test_acc[:epochs])
