"""Where a sweep's runs execute: in this process, in local worker processes, in threads, or as Ray tasks.

`threads` runs `jobs` runs at once in this process, each on its own CUDA stream, so the kernels of
small runs overlap on one GPU (worker processes only take turns on it). Runs build their models one
at a time (`training.cuda_graph.SETUP_LOCK`), so initial weights, data order and augmentation are
those of the run alone; dropout draws from the device's shared generator interleave, so threaded
runs with dropout are not bitwise repeatable.

Every executor skips runs whose results file is complete, records a failing run (its error in its
results file) and goes on, unless `fail_fast`.
"""

from __future__ import annotations

import concurrent.futures as futures
import multiprocessing
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scratchlab.errors import ConfigError, ScratchlabError, require
from scratchlab.experiments.config import ExperimentConfig
from scratchlab.experiments.runner import read_result, record_failure, result_path, run_experiment

if TYPE_CHECKING:
    import torch

EXECUTORS = ("local", "threads", "ray")
BATCHED_MODES = ("auto", "on", "off")


@dataclass
class RunOutcome:
    """What happened to one run of a sweep: `done` (skipped, already finished), `ok` or `failed`."""

    run_name: str
    status: str
    error: str | None = None


def is_finished(config: ExperimentConfig) -> bool:
    """True when the run's results file exists, succeeded and was made from the same config."""
    path = result_path(config)
    if not path.exists():
        return False
    try:
        data = read_result(path)
    except ConfigError:
        return False
    return data.get("status") == "ok" and data.get("config") == config.to_dict()


def run_one(config_data: dict[str, Any], verbose: bool = False, threads: int | None = None) -> RunOutcome:
    """Run one config (given as a dict, so it can cross process boundaries); never raises for a run error."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    config = ExperimentConfig.create(**config_data)
    try:
        run_experiment(config, verbose=verbose)
        return RunOutcome(config.run_name, "ok")
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a failing run is recorded, the sweep goes on
        failure = record_failure(config, exc)
        return RunOutcome(config.run_name, "failed", failure.error)


def run_configs(
    configs: list[ExperimentConfig],
    executor: str = "local",
    jobs: int = 1,
    fail_fast: bool = False,
    address: str | None = None,
    gpus_per_run: float | None = None,
    verbose: bool = False,
    on_outcome: Callable[[RunOutcome], None] | None = None,
    batched: str = "off",
) -> list[RunOutcome]:
    """Run every unfinished config; returns one outcome per config, in order.

    `batched`: `auto` trains runs that differ only in seed, learning rate, momentum, weight decay,
    epochs, early stopping or data options together (groups of >= 2 runs of a model under 1M
    parameters; see `scratchlab.experiments.batched`) where that pays: on a GPU, and on a CPU with
    `jobs=1` (with several CPU worker processes, runs alone in them are as fast or faster); `on`
    does so for every run it can train (on a CPU with `jobs > 1`, the groups are cut into parts
    shared among the worker processes), `off` (default) runs each config alone. The other runs go
    to `executor` as usual.
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"executor {executor!r} is unknown; use one of {', '.join(EXECUTORS)}")
    if batched not in BATCHED_MODES:
        raise ConfigError(f"batched must be one of {', '.join(BATCHED_MODES)}, got {batched!r}")
    if jobs < 1:
        raise ConfigError(f"jobs must be >= 1, got {jobs}")
    outcomes: dict[str, RunOutcome] = {}
    todo = []
    for config in configs:
        if is_finished(config):
            outcomes[config.run_name] = RunOutcome(config.run_name, "done")
            if on_outcome:
                on_outcome(outcomes[config.run_name])
        else:
            todo.append(config)

    def collect(outcome: RunOutcome) -> None:
        outcomes[outcome.run_name] = outcome
        if on_outcome:
            on_outcome(outcome)
        if fail_fast and outcome.status == "failed":
            raise FailFast(outcome)

    try:
        cpu_workers = executor == "local" and jobs > 1 and bool(todo) and all(map(_on_cpu, todo))
        if batched == "auto" and cpu_workers:
            batched = "off"  # measured: runs alone in CPU worker processes are as fast or faster (docs/speed.md)
        if batched != "off" and todo:
            from scratchlab.experiments.batched import run_batched

            if cpu_workers:
                todo = _run_batched_processes(todo, batched, collect, jobs)
            else:
                todo = run_batched(todo, batched, collect, verbose=verbose)
        if executor == "ray":
            _run_ray(todo, collect, address, gpus_per_run)
        elif executor == "threads" and jobs > 1:
            _run_threads(todo, collect, jobs, verbose)
        elif jobs == 1:
            for config in todo:
                collect(run_one(config.to_dict(), verbose=verbose))
        else:
            _run_processes(todo, collect, jobs)
    except FailFast as stop:
        raise ScratchlabError(f"run {stop.outcome.run_name} failed ({stop.outcome.error}); stopping (--fail-fast)") from None
    return [outcomes[c.run_name] for c in configs if c.run_name in outcomes]


class FailFast(Exception):
    def __init__(self, outcome: RunOutcome) -> None:
        super().__init__(outcome.run_name)
        self.outcome = outcome


def _worker_pool(workers: int) -> futures.ProcessPoolExecutor:
    """Spawned worker processes (fresh interpreters: safe with CUDA and with threads in this one)."""
    return futures.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _threads_per_worker(jobs: int) -> int:
    """The CPU threads split between `jobs` worker processes."""
    return max(1, (os.cpu_count() or 1) // jobs)


def _run_processes(todo: list[ExperimentConfig], collect: Callable[[RunOutcome], None], jobs: int) -> None:
    threads = _threads_per_worker(jobs)
    with _worker_pool(jobs) as pool:
        _collect_all([pool.submit(run_one, c.to_dict(), False, threads) for c in todo], collect)


def _device_of(config: ExperimentConfig) -> torch.device | None:
    """The run's torch device, or None where it cannot be had (`run_one` records that error)."""
    from scratchlab.util import resolve_device

    try:
        return resolve_device(config.device)
    except ScratchlabError:
        return None


def _on_cpu(config: ExperimentConfig) -> bool:
    device = _device_of(config)
    return device is not None and device.type == "cpu"


def _run_batched_processes(todo: list[ExperimentConfig], mode: str, collect: Callable[[RunOutcome], None],
                           jobs: int) -> list[ExperimentConfig]:
    """CPU sweeps: the batched groups, cut into parts, train in `jobs` worker processes (one batched
    trainer each, `cpu_count // jobs` threads); returns the runs to run one by one."""
    from scratchlab.experiments.batched import run_part, split_for_workers

    parts, rest = split_for_workers(todo, mode, jobs)
    threads = _threads_per_worker(jobs)

    def handle(result: tuple[list[RunOutcome], list[dict[str, Any]]]) -> None:
        outcomes, left = result
        for outcome in outcomes:
            collect(outcome)
        rest.extend(ExperimentConfig.create(**c) for c in left)

    if parts:
        with _worker_pool(min(jobs, len(parts))) as pool:
            _collect_all([pool.submit(run_part, [c.to_dict() for c in part], mode, threads) for part in parts], handle)
    order = {c.run_name: i for i, c in enumerate(todo)}
    return sorted(rest, key=lambda c: order[c.run_name])


def _run_threads(todo: list[ExperimentConfig], collect: Callable[[RunOutcome], None], jobs: int, verbose: bool) -> None:
    with futures.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="run") as pool:
        _collect_all([pool.submit(_run_on_own_stream, c, verbose) for c in todo], collect)


def _collect_all(pending: list[futures.Future], collect: Callable[[Any], None]) -> None:
    """Collect results as runs finish; on an error (fail-fast, Ctrl-C) cancel the runs not started."""
    try:
        for future in futures.as_completed(pending):
            collect(future.result())
    except BaseException:
        for future in pending:
            future.cancel()
        raise


def _run_on_own_stream(config: ExperimentConfig, verbose: bool) -> RunOutcome:
    """`run_one` on a fresh CUDA stream of the run's device (CPU runs: as they are)."""
    import torch

    device = _device_of(config)
    if device is None or device.type != "cuda":
        return run_one(config.to_dict(), verbose)
    with torch.cuda.device(device), torch.cuda.stream(torch.cuda.Stream(device)):
        outcome = run_one(config.to_dict(), verbose)
        torch.cuda.current_stream().synchronize()
    return outcome


def _run_ray(todo: list[ExperimentConfig], collect: Callable[[RunOutcome], None], address: str | None, gpus_per_run: float | None) -> None:
    ray = require("ray", "distributed")
    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    refs = []
    for config in todo:
        gpus = gpus_per_run if gpus_per_run is not None else (1 if config.device.startswith("cuda") else 0)
        task = ray.remote(num_cpus=1, num_gpus=gpus)(run_one)
        refs.append(task.remote(config.to_dict(), False, 1))
    remaining = list(refs)
    while remaining:
        ready, remaining = ray.wait(remaining, num_returns=1)
        collect(ray.get(ready[0]))
