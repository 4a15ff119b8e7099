"""One run from config to `RunRecord`: `run_experiment(config)` and the pieces executors share.

`train_run` returns the record unwritten (an executor sends it back); `run_experiment` writes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from scratchlab.data.cifar10 import data_location
from scratchlab.errors import ConfigError, ScratchlabError
from scratchlab.experiments.build import build_trainer
from scratchlab.experiments.config import ExperimentConfig
from scratchlab.experiments.preflight import check_data, check_model_size
from scratchlab.experiments.records import (
    Results,
    RunRecord,
    Timings,
    load_record,
    result_path,
    write_record,
)
from scratchlab.experiments.run_data import load_run_data
from scratchlab.training import (
    CheckpointFiles,
    EarlyStopping,
    FitResult,
    TensorBoardLogger,
    TensorLoader,
    Timer,
    load_checkpoint,
)
from scratchlab.training.accel import SETUP_LOCK
from scratchlab.util import Laps, atomic_write_json, resolve_device, seed_everything
from scratchlab.util import distributed as dd
from scratchlab.util.environment import environment, git_commit
from scratchlab.util.folders import check_out_dir
from scratchlab.util.json_files import read_json
from scratchlab.util.sealing import unseal

# Fields a rerun may change and still resume the run's checkpoint: where things are, on which
# device, speed-only switches, logging, and `epochs` (a longer budget continues the run).
RESUME_NEUTRAL = frozenset({"run_name", "out_dir", "device", "data_root", "epochs", "checkpoints",
                            "compile", "compile_mode", "cudnn_benchmark", "cuda_graph",
                            "tensorboard"})
# Fields that do not change what a finished run computed: where it ran and speed-only switches.
LOCATION_NEUTRAL = RESUME_NEUTRAL - {"run_name", "epochs"}


def checkpoint_files(config: ExperimentConfig) -> CheckpointFiles:
    """`<out_dir>/checkpoints/<run_name>{_last,_best,}.pt`."""
    return CheckpointFiles(Path(config.out_dir) / "checkpoints" / config.run_name)


def checkpoint_config_path(config: ExperimentConfig) -> Path:
    """`<out_dir>/checkpoints/<run_name>.config.json`: the config that wrote the checkpoints."""
    return Path(config.out_dir) / "checkpoints" / f"{config.run_name}.config.json"


def check_resumable(config: ExperimentConfig) -> None:
    """Refuse to resume a checkpoint written by another config (a ConfigError naming changes)."""
    last, path = checkpoint_files(config).last, checkpoint_config_path(config)
    if not last.exists() or not path.exists():
        return
    try:
        saved = ExperimentConfig.load(read_json(path, "checkpoint config")).flat()
    except (ValueError, TypeError, ConfigError):
        raise ConfigError(f"{path} is damaged; delete {last.parent / config.run_name}* to start "
                          "the run over") from None
    now = config.flat()
    if changed := sorted(k for k in now if k not in RESUME_NEUTRAL and saved.get(k) != now[k]):
        diff = ", ".join(f"{k}: {saved.get(k)!r} -> {now[k]!r}" for k in changed[:4])
        more = f" and {len(changed) - 4} more" if len(changed) > 4 else ""
        raise ConfigError(f"run {config.run_name} has a checkpoint {last} made with another "
                          f"config ({diff}{more}); give the run a new run_name or out_dir, or "
                          f"delete {last.parent / config.run_name}_*.pt to start it over")


def run_experiment(config: ExperimentConfig | dict[str, Any], verbose: bool = True) -> RunRecord:
    """Train one run and write its results file; a rerun resumes. User errors: `ScratchlabError`."""
    if not isinstance(config, ExperimentConfig):
        config = ExperimentConfig.create(**config)
    context = dd.setup(config.device) if config.speed.ddp else None
    try:
        record = train_run(config, verbose)
        if dd.is_main_process():
            write_record(record)
        dd.barrier()
        return record
    finally:
        if context is not None:
            dd.teardown()


def train_run(config: ExperimentConfig, verbose: bool = False) -> RunRecord:
    """Train one run (resuming from its checkpoint) and return its record, unwritten."""
    device = dd.rank_device() if config.speed.ddp else resolve_device(config.device)
    main = dd.is_main_process()
    files = checkpoint_files(config) if config.budget.checkpoints else None
    timer, laps = Timer(), Laps()
    # Checked before anything is written: output folders, data, model size, checkpoints.
    check_out_dir(config.out_dir)
    if result_path(config).is_dir():
        raise ConfigError(f"results file {result_path(config)} is a folder; move it or choose "
                          "another out_dir or run name")
    if config.tensorboard is not None:
        check_out_dir(config.tensorboard, "tensorboard")
    check_data(config)
    # Runs sharing a process (the `threads` executor) build their data and model one at a time,
    # so each draws its initial weights from the global RNG right after its own seeding.
    with SETUP_LOCK:
        seed_everything(config.seed)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = config.speed.cudnn_benchmark
        if files is not None:
            check_resumable(config)
        data = load_run_data(config, device)
        laps.mark("data")
        tensors = getattr(data.train, "tensors", None)  # training samples held (None: unknown)
        samples = len(tensors[0]) if tensors else None
        check_model_size(config, data.input_shape, data.num_classes, samples, device)
        built = build_trainer(config, data, device, [timer])
        laps.mark("build")
        if files is not None:
            files.check(built.trainer)
            if main:
                atomic_write_json(checkpoint_config_path(config), config.to_dict())
    logger = ([TensorBoardLogger(config.tensorboard)]
              if config.tensorboard is not None and main else [])
    b = config.budget
    fit = built.trainer.fit(
        data.train, data.test, b.epochs, checkpoints=files,
        early_stopping=early_stopping(config), max_batches=b.batches,
        resume=files is not None, print_every=1 if verbose and main else 0, callbacks=logger)
    laps.mark("fit")
    summary = fit_summary(fit, built.params, built.flops, world_size=dd.world_size())
    if config.trainer == "fast":  # the last epoch's accuracy without test-time augmentation
        summary["plain_test_acc"] = built.trainer.final_plain_acc
    if b.eval_train:  # accuracy (percent) on the training samples, in evaluation mode
        loader = TensorLoader(*data.train.tensors[:2], batch_size=data.test.batch_size)
        summary["train_eval_acc"] = built.trainer.test_epoch(loader).accuracy
    return make_record(config, fit, summary,
                       Timings(train_seconds=sum(timer.seconds), seconds_per_epoch=timer.seconds,
                               started_at=laps.started_at, **laps.seconds), device)


def fit_summary(fit: FitResult, params: int, flops: int | None, **extra: Any) -> dict[str, Any]:
    """The numbers tables and reports show of a run."""
    return {"best_test_acc": fit.best_test_acc,
            "final_test_acc": fit.test_acc[-1] if fit.test_acc else None,
            "final_train_acc": fit.train_acc[-1] if fit.train_acc else None,
            "epochs": fit.num_epochs, "epochs_to_best": fit.epochs_to_best,
            "params": params, "flops": flops, **extra}


def make_record(config: ExperimentConfig, fit: FitResult | None, summary: dict[str, Any],
                timings: Timings, device: Any, error: str | None = None) -> RunRecord:
    """A record of this process's run (environment, commit and where the data was found)."""
    found = data_location(config.data.dataset, config.data.data_root)
    if found != config.data.data_root:
        config = config.model_copy(update={"data": config.data.model_copy(
            update={"data_root": found})})
    return RunRecord(config=config, results=None if fit is None else Results(**fit.to_dict()),
                     status="failed" if error else "ok", error=error, summary=summary,
                     timings=timings, env=environment(device), commit=git_commit())


def failed_record(config: ExperimentConfig, error: BaseException) -> RunRecord:
    """The record of a run that failed with `error` (its message, one line)."""
    message = (str(error) if isinstance(error, ScratchlabError)
               else f"{type(error).__name__}: {error}")
    return make_record(config, None, {}, Timings(), "cpu", error=" ".join(message.split()))


def early_stopping(config: ExperimentConfig) -> EarlyStopping | None:
    b = config.budget
    if b.early_stopping is None:
        return None
    return EarlyStopping(b.early_stopping, b.early_stopping_monitor, b.early_stopping_min_delta)


def load_model(run: RunRecord | str | Path, which: str = "last",
               device: str | torch.device = "cpu") -> Any:
    """A run's model, rebuilt from its config, with its `last` or `best` checkpoint's weights."""
    config = (run if isinstance(run, RunRecord) else load_record(run)).config
    if which not in ("last", "best"):
        raise ConfigError(f"which must be 'last' or 'best', got {which!r}")
    path = getattr(checkpoint_files(config), which)
    if not path.exists():
        raise ConfigError(f"run {config.run_name} has no checkpoint {path} (was it run with "
                          "checkpoints off?)")
    on_cpu, cpu = config.replace(device="cpu"), torch.device("cpu")
    model = build_trainer(on_cpu, load_run_data(on_cpu, cpu), cpu, []).model
    model.load_state_dict(unseal(load_checkpoint(path), path)["trainer"]["model"])
    model = model.to(device=torch.device(device))
    return model.train(False) if config.model.engine == "scratch" else model.eval()


def is_finished(config: ExperimentConfig) -> RunRecord | None:
    """The run's record if its results file succeeded with this config (see `same_run`)."""
    try:
        record = load_record(result_path(config))
    except ConfigError:  # not there (yet), or unreadable
        return None
    return record if record.ok and same_run(record.config, config) else None


def same_run(a: ExperimentConfig, b: ExperimentConfig) -> bool:
    """Whether two configs describe the same run, wherever and however fast it ran."""
    fa, fb = a.flat(), b.flat()
    return all(fa[k] == fb[k] for k in fa if k not in LOCATION_NEUTRAL)
