"""`run_experiment(config)`: one run from config to `out_dir/<run_name>.json`; `load_experiment(path)`."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from scratchlab import scratch
from scratchlab.errors import ConfigError, ScratchlabError
from scratchlab.experiments.config import ExperimentConfig
from scratchlab.experiments.environment import environment
from scratchlab.experiments.fast_pipeline import build_fast_data, build_fast_trainer
from scratchlab.experiments.pipeline import (
    RunData,
    build_data,
    build_optimizer,
    build_run_model,
    build_scheduler,
    build_scratch_model,
)
from scratchlab.models import summary as model_summary
from scratchlab.training import (
    CheckpointFiles,
    ClassifierTrainer,
    EarlyStopping,
    FitResult,
    LayerTrainer,
    distributed,
    load_checkpoint,
)
from scratchlab.training.cuda_graph import SETUP_LOCK
from scratchlab.training.distributed_trainer import DistributedClassifierTrainer
from scratchlab.util import atomic_write_json, resolve_device, seed_everything


@dataclass
class RunResult:
    """A finished (or failed) run: its config, history, summary numbers and result file."""

    config: ExperimentConfig
    fit: FitResult | None
    path: Path
    status: str = "ok"
    error: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    model: nn.Module | None = field(default=None, repr=False)


def result_path(config: ExperimentConfig) -> Path:
    return Path(config.out_dir) / f"{config.run_name}.json"


def checkpoint_prefix(config: ExperimentConfig) -> Path:
    return Path(config.out_dir) / "checkpoints" / config.run_name


def timing_path(config: ExperimentConfig) -> Path:
    """`<out_dir>/checkpoints/<run_name>.timing.json`: each epoch's wall time, kept for resume."""
    return checkpoint_prefix(config).with_name(f"{config.run_name}.timing.json")


# Fields a rerun may change and still resume the run's checkpoint: where things are, on which
# device, speed-only switches, and `epochs` (a longer budget continues the run).
RESUME_NEUTRAL = frozenset({"run_name", "out_dir", "device", "data_root", "epochs", "checkpoints",
                            "compile", "compile_mode", "cudnn_benchmark", "cuda_graph"})


def checkpoint_config_path(config: ExperimentConfig) -> Path:
    """`<out_dir>/checkpoints/<run_name>.config.json`: the config that wrote the run's checkpoints."""
    return checkpoint_prefix(config).with_name(f"{config.run_name}.config.json")


def check_resumable(config: ExperimentConfig) -> None:
    """Refuse to resume a checkpoint written by a different config (a ConfigError naming the changes).

    Without this a rerun under the same name with, say, another learning rate would continue the
    old run and label its history with the new config.
    """
    last = CheckpointFiles(checkpoint_prefix(config)).last
    path = checkpoint_config_path(config)
    if not last.exists() or not path.exists():  # nothing to resume, or a checkpoint without a record
        return
    saved, now = json.loads(path.read_text()), config.to_dict()
    changed = sorted(k for k in saved.keys() | now.keys() if k not in RESUME_NEUTRAL and saved.get(k) != now.get(k))
    if changed:
        diff = ", ".join(f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in changed[:4])
        more = f" and {len(changed) - 4} more" if len(changed) > 4 else ""
        raise ConfigError(
            f"run {config.run_name} has a checkpoint {last} made with another config ({diff}{more}); "
            f"give the run a new run_name or out_dir, or delete {checkpoint_prefix(config)}_*.pt to start it over")


def record_checkpoint_config(config: ExperimentConfig) -> None:
    atomic_write_json(checkpoint_config_path(config), config.to_dict())


def as_config(config: ExperimentConfig | dict[str, Any]) -> ExperimentConfig:
    return config if isinstance(config, ExperimentConfig) else ExperimentConfig.create(**config)


def run_experiment(config: ExperimentConfig | dict[str, Any], verbose: bool = True) -> RunResult:
    """Train one run and write its results file atomically; a rerun resumes from its checkpoint.

    Raises ScratchlabError subclasses for user errors (bad config, missing data, NaN loss).
    """
    config = as_config(config)
    context = distributed.setup(config.device) if config.ddp else None
    try:
        return _run(config, context.device if context else resolve_device(config.device), verbose)
    finally:
        if context is not None:
            distributed.teardown()


def _run(config: ExperimentConfig, device: torch.device, verbose: bool) -> RunResult:
    main = distributed.is_main_process()
    # Runs sharing a process (the `threads` executor) build their data and model one at a time, so
    # each draws its initial weights from the global RNG right after its own seeding.
    with SETUP_LOCK:
        seed_everything(config.seed)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = config.cudnn_benchmark
        if config.checkpoints:
            check_resumable(config)
        data = build_fast_data(config, device) if config.trainer == "fast" else build_data(config, device)
        model, trainer, info = build_trainer(config, data, device)
        if config.checkpoints and main:
            record_checkpoint_config(config)
    timing = EpochTimer(timing_path(config) if config.checkpoints and main else None)
    fit = trainer.fit(
        data.train, data.test, config.epochs,
        checkpoints=checkpoint_prefix(config) if config.checkpoints else None,
        early_stopping=early_stopping(config), max_batches=config.batches, resume=config.checkpoints,
        print_every=1 if verbose and main else 0, on_epoch_end=timing,
    )
    summary = {
        "best_test_acc": fit.best_test_acc,
        "final_test_acc": fit.test_acc[-1] if fit.test_acc else None,
        "final_train_acc": fit.train_acc[-1] if fit.train_acc else None,
        "epochs": fit.num_epochs,
        "epochs_to_best": fit.epochs_to_best,
        "params": info["params"],
        "flops": info["flops"],
        "train_seconds": sum(timing.seconds),
        "seconds_per_epoch": timing.seconds,
        "world_size": distributed.world_size(),
    }
    if config.trainer == "fast":  # the last epoch's accuracy without test-time augmentation
        summary["plain_test_acc"] = trainer.final_plain_acc
    path = write_result(config, fit, summary, device) if main else result_path(config)
    distributed.barrier()
    return RunResult(config, fit, path, summary=summary, model=model)


def build_trainer(config: ExperimentConfig, data: RunData, device: torch.device) -> tuple[Any, Any, dict[str, Any]]:
    """The model, its trainer and its size (params, multiply-adds) for a config."""
    if config.engine == "scratch":
        model = build_scratch_model(config, data.input_shape, data.num_classes).to(device=device)
        params = sum(p.numel() for p, _ in model.params())
        trainer = LayerTrainer(model, scratch.CrossEntropyLoss(), build_optimizer(config, model))
        return model, trainer, {"params": params, "flops": None}
    if config.trainer == "fast":
        return build_fast_trainer(config, data, device)
    model = build_run_model(config, data.input_shape, data.num_classes)
    info = model_summary(model, data.input_shape)
    if config.cuda_graph:  # a capturable optimizer keeps its state where the parameters already are
        model = model.to(device)
    optimizer = build_optimizer(config, model)
    batches = len(data.train) if config.batches is None else min(config.batches, len(data.train))
    scheduler = build_scheduler(config, optimizer, batches)
    trainer_class, extra = ClassifierTrainer, {}
    if config.ddp:
        trainer_class, extra = DistributedClassifierTrainer, {"sync_batchnorm": config.sync_batchnorm}
    trainer = trainer_class(
        model, nn.CrossEntropyLoss(label_smoothing=config.label_smoothing), optimizer, device=device,
        scheduler=scheduler, scheduler_step="batch", precision=config.precision, compile=config.compile,
        channels_last=config.channels_last, cuda_graph=config.cuda_graph, **extra,
    )
    return model, trainer, {"params": info.params, "flops": info.flops}


def early_stopping(config: ExperimentConfig) -> EarlyStopping | None:
    if config.early_stopping is None:
        return None
    return EarlyStopping(config.early_stopping, config.early_stopping_monitor, config.early_stopping_min_delta)


def load_model(path: str | Path, which: str = "last", device: str | torch.device = "cpu") -> nn.Module:
    """The trained model of a results file: rebuilt from its config, weights from its checkpoint.

    Args:
        path: the run's `<run_name>.json`.
        which: `last` (end of training) or `best` (best test accuracy).
    """
    from scratchlab.experiments.pipeline import build_data

    config, _ = load_experiment(path)
    if which not in ("last", "best"):
        raise ConfigError(f"which must be 'last' or 'best', got {which!r}")
    checkpoint = checkpoint_prefix(config).with_name(f"{config.run_name}_{which}.pt")
    if not checkpoint.exists():
        raise ConfigError(f"run {config.run_name} has no checkpoint {checkpoint} (was it run with checkpoints off?)")
    data = build_data(config.model_copy(update={"device": "cpu"}), torch.device("cpu"))
    model, _, _ = build_trainer(config, data, torch.device("cpu"))
    model.load_state_dict(load_checkpoint(checkpoint)["model"])
    model = model.to(device=torch.device(device)) if config.engine == "scratch" else model.to(device)
    return model.train(False) if config.engine == "scratch" else model.eval()


def write_result(config: ExperimentConfig, fit: FitResult | None, summary: dict[str, Any], device: Any, error: str | None = None) -> Path:
    """Write `out_dir/<run_name>.json`: config, results (FitResult fields), summary, environment."""
    payload = {
        "config": config.to_dict(),
        "results": fit.to_dict() if fit is not None else None,
        "summary": summary,
        "status": "failed" if error else "ok",
        "error": error,
        "environment": environment(device),
    }
    return atomic_write_json(result_path(config), payload)


def record_failure(config: ExperimentConfig, error: BaseException) -> RunResult:
    """Write a failed run's file (status `failed` and the message) so a sweep can go on; a
    successful results file already there (say, of the run before a changed config) is kept."""
    message = str(error) if isinstance(error, ScratchlabError) else f"{type(error).__name__}: {error}"
    path = result_path(config)
    if not _holds_success(path):
        path = write_result(config, None, {}, "cpu", error=message)
    return RunResult(config, None, path, status="failed", error=message)


def _holds_success(path: Path) -> bool:
    try:
        return path.exists() and read_result(path).get("status") == "ok"
    except ConfigError:  # unreadable: nothing worth keeping
        return False


def read_result(path: str | Path) -> dict[str, Any]:
    """The raw content of a results file; a broken file is a ConfigError naming it."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"results file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"results file {path} cannot be read ({exc.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"results file {path} is not valid JSON ({exc})") from None


def load_experiment(path: str | Path) -> tuple[ExperimentConfig, FitResult]:
    """The config and FitResult stored in a results file (the classic `load_experiment`)."""
    data = read_result(path)
    if data.get("results") is None:
        raise ConfigError(f"{path} holds no results (status {data.get('status')!r}: {data.get('error')})")
    return ExperimentConfig.create(**data["config"]), FitResult.from_dict(data["results"])


class EpochTimer:
    """`on_epoch_end` callback keeping each epoch's wall time, persisted so resume keeps them."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.seconds: list[float] = []
        if path is not None and path.exists():
            self.seconds = json.loads(path.read_text())
        self.start = time.perf_counter()

    def __call__(self, epoch: int, _fit: FitResult) -> None:
        now = time.perf_counter()
        self.seconds = [*self.seconds[: epoch - 1], now - self.start]
        self.start = now
        if self.path is not None:
            atomic_write_json(self.path, self.seconds, indent=None)
