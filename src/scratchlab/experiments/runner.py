"""`run_experiment(config)`: one run from config to `out_dir/<run_name>.json`; `load_experiment(path)`."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from scratchlab import scratch
from scratchlab.data import dataset_options, get_dataset
from scratchlab.errors import ConfigError, ScratchlabError
from scratchlab.experiments.config import ExperimentConfig
from scratchlab.experiments.environment import environment
from scratchlab.experiments.pipeline import (
    RunData,
    balanced_subset,
    build_data,
    build_optimizer,
    build_run_model,
    build_scratch_model,
    model_spec,
)
from scratchlab.models import build_model
from scratchlab.models import summary as model_summary
from scratchlab.training import (
    ClassifierTrainer,
    EarlyStopping,
    FitResult,
    LayerTrainer,
    load_checkpoint,
)
from scratchlab.training.fast import FastSettings, FastTrainer, make_fast_loaders
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


def as_config(config: ExperimentConfig | dict[str, Any]) -> ExperimentConfig:
    return config if isinstance(config, ExperimentConfig) else ExperimentConfig.create(**config)


def run_experiment(config: ExperimentConfig | dict[str, Any], verbose: bool = True) -> RunResult:
    """Train one run and write its results file atomically; a rerun resumes from its checkpoint.

    Raises ScratchlabError subclasses for user errors (bad config, missing data, NaN loss).
    """
    config = as_config(config)
    seed_everything(config.seed)
    device = resolve_device(config.device)
    data = build_fast_data(config, device) if config.trainer == "fast" else build_data(config, device)
    model, trainer, info = build_trainer(config, data, device)
    timing = EpochTimer(checkpoint_prefix(config).with_suffix(".timing.json") if config.checkpoints else None)
    fit = trainer.fit(
        data.train, data.test, config.epochs,
        checkpoints=checkpoint_prefix(config) if config.checkpoints else None,
        early_stopping=early_stopping(config), max_batches=config.batches, resume=config.checkpoints,
        print_every=1 if verbose else 0, on_epoch_end=timing,
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
    }
    if config.trainer == "fast":  # the last epoch's accuracy without test-time augmentation
        summary["plain_test_acc"] = trainer.final_plain_acc
    path = write_result(config, fit, summary, device)
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
    trainer = ClassifierTrainer(
        model, nn.CrossEntropyLoss(label_smoothing=config.label_smoothing), build_optimizer(config, model),
        device=device, precision=config.precision, compile=config.compile, channels_last=config.channels_last,
    )
    return model, trainer, {"params": info.params, "flops": info.flops}


# ---- the fast trainer (trainer fast) ----------------------------------------------------------
def fast_settings(config: ExperimentConfig) -> FastSettings:
    """The `FastSettings` of a config (`reg` is the weight decay; optimizer sgd means no momentum)."""
    shared = {f.name: getattr(config, f.name) for f in dataclasses.fields(FastSettings)
              if f.name in ExperimentConfig.model_fields and f.name != "momentum"}
    momentum = config.momentum if config.optimizer == "momentum" else 0.0
    return FastSettings(**shared, batch_size=config.bs_train, test_batch_size=config.test_batch_size,
                        weight_decay=config.reg, momentum=momentum)


def load_fast_split(config: ExperimentConfig, split: str, limit: int | None, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """One split on `device`, as uint8 and class-balanced-limited by the dataset itself where it can."""
    accepted = dataset_options(config.dataset) or ()
    wanted = {"dtype": "uint8", "device": device, "limit": limit, "stratified": limit is not None}
    options = {k: v for k, v in wanted.items() if k in accepted and v is not None}
    dataset = get_dataset(config.dataset, split, root=config.data_root, **{**options, **config.dataset_options})
    if not hasattr(dataset, "tensors"):
        raise ConfigError(f"dataset {config.dataset!r} is not a classification dataset of tensors; it cannot be trained on with run-exp")
    x, y = dataset.tensors[0], dataset.tensors[1]
    if limit is not None and limit < len(y):
        x, y = balanced_subset(x, y, limit, config.seed)
    classes = list(getattr(dataset, "classes", [str(i) for i in range(int(y.max()) + 1)]))
    return x.to(device), y.to(device), classes


def build_fast_data(config: ExperimentConfig, device: torch.device) -> RunData:
    """Both splits held on `device` in the fast trainer's loaders."""
    x_train, y_train, classes = load_fast_split(config, config.train_split, config.train_limit, device)
    x_test, y_test, _ = load_fast_split(config, config.test_split, config.test_limit, device)
    train, test = make_fast_loaders(x_train, y_train, x_test, y_test, fast_settings(config), seed=config.seed)
    return RunData(train, test, tuple(x_train.shape[1:]), len(classes), classes)  # type: ignore[arg-type]


def build_fast_trainer(config: ExperimentConfig, data: RunData, device: torch.device) -> tuple[nn.Module, FastTrainer, dict[str, Any]]:
    """The model (with the fast fields `whiten`, `identity_init` unless model_options set them) and its FastTrainer."""
    spec = model_spec(config, data.input_shape, data.num_classes)
    spec.setdefault("whiten", config.whiten)
    spec.setdefault("identity_init", config.identity_init)
    model = build_model(spec)
    info = model_summary(model, data.input_shape)
    trainer = FastTrainer(model, fast_settings(config), device=device)
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
    """Write a failed run's file (status `failed` and the message) so a sweep can go on."""
    message = str(error) if isinstance(error, ScratchlabError) else f"{type(error).__name__}: {error}"
    path = write_result(config, None, {}, "cpu", error=message)
    return RunResult(config, None, path, status="failed", error=message)


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
