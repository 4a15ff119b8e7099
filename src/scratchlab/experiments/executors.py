"""Where runs execute: in this process, in local worker processes, in threads, or as Ray tasks.

Every executor hands each run's `RunRecord` back to this process, which writes the results files;
a failing run becomes a failed record.
"""

from __future__ import annotations

import concurrent.futures as futures
import multiprocessing
import os
from collections.abc import Callable, Sequence
from typing import Any

from scratchlab.errors import ScratchlabError, require
from scratchlab.experiments.config import ExperimentConfig
from scratchlab.experiments.records import RunRecord
from scratchlab.util.threads import threads_per_worker

EXECUTORS = ("local", "threads", "ray")
Collect = Callable[[RunRecord], None]


def run_one(config_data: dict[str, Any], verbose: bool = False,
            threads: int | None = None) -> dict[str, Any]:
    """A config dict's record as a dict (failed on a run's own error); for workers and Ray."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    return train_or_fail(ExperimentConfig.load(config_data), verbose).to_dict()


def train_or_fail(config: ExperimentConfig, verbose: bool = False) -> RunRecord:
    """`train_run`, with a run's error (user error or crash) turned into a failed record."""
    from scratchlab.experiments.run import failed_record, train_run

    try:
        return train_run(config, verbose=verbose)
    except Exception as exc:  # a failing run is recorded, the sweep goes on
        return failed_record(config, exc)


def execute(todo: Sequence[ExperimentConfig], collect: Collect, executor: str = "local",
            jobs: int = 1, verbose: bool = False, address: str | None = None,
            gpus_per_run: float | None = None) -> None:
    """Train every config of `todo` on `executor`, handing each record to `collect`."""
    if executor == "ray":
        _run_ray(todo, collect, address, gpus_per_run)
    elif executor == "threads" and jobs > 1:
        with futures.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="run") as pool:
            collect_all([pool.submit(_run_on_own_stream, c, verbose) for c in todo], collect)
    elif jobs == 1:
        for config in todo:
            collect(train_or_fail(config, verbose))
    else:
        in_processes(run_one, [(c.to_dict(), False) for c in todo], jobs,
                     lambda data: collect(RunRecord.model_validate(data)))


def in_processes(fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]], jobs: int,
                 collect: Callable[[Any], None]) -> None:
    """`fn(*args, threads)` per `args` of `calls` in `jobs` spawned processes, into `collect`."""
    threads = threads_per_worker(jobs)
    context = multiprocessing.get_context("spawn")  # fresh interpreters: safe with CUDA, threads
    with futures.ProcessPoolExecutor(max_workers=min(jobs, len(calls)) or 1,
                                     mp_context=context) as pool:
        collect_all([pool.submit(fn, *args, threads) for args in calls], collect)


def collect_all(pending: list[futures.Future], collect: Callable[[Any], None]) -> None:
    """Collect results as they finish; on an error (fail-fast, Ctrl-C) cancel those not started."""
    try:
        for future in futures.as_completed(pending):
            collect(future.result())
    except BaseException:
        for future in pending:
            future.cancel()
        raise


def device_of(config: ExperimentConfig) -> Any:
    """The run's torch device, or None where it cannot be had (the run then records the error)."""
    from scratchlab.util import resolve_device

    try:
        return resolve_device(config.device)
    except ScratchlabError:
        return None


def _run_on_own_stream(config: ExperimentConfig, verbose: bool) -> RunRecord:
    """A run on a fresh CUDA stream of its device, pacing its launches for the shared GPU."""
    import torch

    from scratchlab.training.accel import sharing_device

    device = device_of(config)
    if device is None or device.type != "cuda":
        return train_or_fail(config, verbose)
    with torch.cuda.device(device), torch.cuda.stream(torch.cuda.Stream(device)), sharing_device():
        record = train_or_fail(config, verbose)
        torch.cuda.current_stream().synchronize()
    return record


def _run_ray(todo: Sequence[ExperimentConfig], collect: Collect, address: str | None,
             gpus_per_run: float | None) -> None:
    ray = require("ray", "distributed")
    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False, runtime_env={
            "env_vars": {"SCRATCHLAB_QUIET": os.environ.get("SCRATCHLAB_QUIET", "1")}})
    remaining = []
    for config in todo:
        gpus = gpus_per_run if gpus_per_run is not None else int(config.device.startswith("cuda"))
        task = ray.remote(num_cpus=1, num_gpus=gpus)(run_one)
        remaining.append(task.remote(config.to_dict(), False, 1))
    while remaining:
        ready, remaining = ray.wait(remaining, num_returns=1)
        collect(RunRecord.model_validate(ray.get(ready[0])))
