"""`run_configs(configs, ...)`: many runs, each once, as `RunRecord`s in the order of `configs`.

Finished runs are read back, others go to `batched` or `executors`; this process writes every
results file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path

from scratchlab.errors import ConfigError, ScratchlabError
from scratchlab.experiments import batched as batched_path
from scratchlab.experiments.config import ExperimentConfig
from scratchlab.experiments.executors import EXECUTORS, Collect, device_of, execute, in_processes
from scratchlab.experiments.preflight import check_runs
from scratchlab.experiments.records import RunRecord, load_record, result_path, write_record
from scratchlab.experiments.run import (
    check_resumable,
    checkpoint_config_path,
    checkpoint_files,
    is_finished,
)

BATCHED_MODES = ("auto", "on", "off")


class FailFast(ScratchlabError):
    """A run failed under `fail_fast`."""


def run_configs(configs: Sequence[ExperimentConfig], executor: str = "local", jobs: int = 1,
                fail_fast: bool = False, address: str | None = None,
                gpus_per_run: float | None = None, verbose: bool = False,
                on_record: Callable[[RunRecord], None] | None = None,
                batched: str = "off", restart_changed: bool = False,
                before_first_run: Callable[[], None] | None = None) -> list[RunRecord]:
    """Run every unfinished config; one record per config (done, cached or failed), in order.

    Args:
        executor: `local`, `threads` or `ray` (`executors`), running `jobs` runs at a time.
        fail_fast: stop at the first failing run (a `ScratchlabError`).
        address, gpus_per_run: the Ray cluster and the GPUs each Ray task reserves.
        on_record: called with each record as it is written (cached ones first).
        batched: `auto` (where it pays), `on` or `off`: train runs together (docs/speed.md).
        restart_changed: start over, not fail, a run whose checkpoint another config wrote.
        before_first_run: called once every unfinished run has passed its checks, before
            anything is written (a sweep writes its manifest there).
    """
    _check(configs, executor, jobs, batched)
    records: dict[Path, RunRecord] = {}

    def collect(record: RunRecord, path: Path | None = None) -> None:
        if not record.cached:
            _write(record)
        records[path or record.path] = record  # a record read back may name another out_dir
        if on_record is not None:
            on_record(record)
        if fail_fast and not record.ok:
            raise FailFast(f"run {record.config.run_name} failed ({record.error}); "
                           "stopping (--fail-fast)")

    finished = {result_path(c): is_finished(c) for c in configs}
    todo = [c for c in configs if finished[result_path(c)] is None]
    check_runs(todo, executor != "ray")  # every unfinished run, before anything is written
    if before_first_run is not None:
        before_first_run()
    for config in configs:
        record = finished[result_path(config)]
        if record is not None:
            collect(record.model_copy(update={"cached": True}), result_path(config))
        elif restart_changed:
            _remove_stale_checkpoints(config)
    cpu_workers = executor == "local" and jobs > 1 and bool(todo) and all(map(_on_cpu, todo))
    if batched == "auto" and cpu_workers:
        batched = "off"  # measured: runs alone in CPU worker processes are as fast or faster
    if batched != "off" and todo:
        todo = (_batched_in_processes(todo, batched, collect, jobs) if cpu_workers
                else batched_path.run_batched(todo, batched, collect, verbose=verbose))
    execute(todo, collect, executor, jobs, verbose, address, gpus_per_run)
    return [records[result_path(c)] for c in configs]


def _check(configs: Sequence[ExperimentConfig], executor: str, jobs: int, batched: str) -> None:
    if executor not in EXECUTORS:
        raise ConfigError(f"executor {executor!r} is unknown; use one of {', '.join(EXECUTORS)}")
    if batched not in BATCHED_MODES:
        raise ConfigError(f"batched must be one of {', '.join(BATCHED_MODES)}, got {batched!r}")
    if jobs < 1:
        raise ConfigError(f"jobs must be >= 1, got {jobs}")
    paths = [str(result_path(c)) for c in configs]
    if twice := sorted({p for p in paths if paths.count(p) > 1}):
        raise ConfigError(f"two runs would write the same results file(s) {twice[:3]}; give each "
                          "run its own name or out_dir")


def _write(record: RunRecord) -> None:
    """Write a record, except a failed one over a successful results file already there."""
    if not record.ok:
        with contextlib.suppress(ConfigError):  # none there, or unreadable: nothing worth keeping
            if load_record(record.path).ok:
                return
    write_record(record)


def _remove_stale_checkpoints(config: ExperimentConfig) -> None:
    """Delete the run's checkpoints when another config wrote them."""
    try:
        check_resumable(config)
    except ConfigError:
        for path in (*checkpoint_files(config).all(), checkpoint_config_path(config)):
            path.unlink(missing_ok=True)


def _on_cpu(config: ExperimentConfig) -> bool:
    device = device_of(config)
    return device is not None and device.type == "cpu"


def _batched_in_processes(todo: list[ExperimentConfig], mode: str, collect: Collect,
                          jobs: int) -> list[ExperimentConfig]:
    """CPU sweeps: batched groups cut into parts for `jobs` workers; returns the runs left."""
    parts, rest = batched_path.split_for_workers(todo, mode, jobs)

    def handle(result: tuple[list[dict], list[dict]]) -> None:
        done, left = result
        for data in done:
            collect(RunRecord.model_validate(data))
        rest.extend(ExperimentConfig.load(c) for c in left)

    if parts:
        in_processes(batched_path.run_part, [([c.to_dict() for c in p], mode) for p in parts],
                     jobs, handle)
    order = {result_path(c): i for i, c in enumerate(todo)}
    return sorted(rest, key=lambda c: order[result_path(c)])
