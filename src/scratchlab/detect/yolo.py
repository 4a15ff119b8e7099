"""Train, validate and predict with ultralytics YOLO, offline, with scratchlab results JSON.

from scratchlab.detect import TrainConfig, train, val, predict
result = train(TrainConfig(data="shapes/data.yaml", model="yolov8n.yaml", epochs=10, imgsz=64))
print(result.metrics.map50, result.run_dir)
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scratchlab.detect.data_file import check_data
from scratchlab.detect.offline import keep_torch_settings, load_model, no_amp_download
from scratchlab.detect.results import (
    RESULTS_FILE,
    DetectMetrics,
    TrainResult,
    ValResult,
    write_results,
)
from scratchlab.errors import ConfigError, DatasetNotFoundError
from scratchlab.util import resolve_device

OPTIMIZERS = ("SGD", "Adam", "AdamW")
# Arguments scratchlab sets itself; passing them through `overrides` would bypass its checks.
RESERVED = {"data", "model", "project", "name", "exist_ok", "device", "epochs", "imgsz", "batch"}


@dataclass
class TrainConfig:
    """Everything one training run needs.

    Attributes:
        data: Path of the dataset's ``data.yaml`` (YOLO format).
        model: ``.pt`` weights file (fine-tune) or ``.yaml`` architecture (from scratch).
        epochs: Training epochs.
        imgsz: Square input size in pixels.
        batch: Images per batch.
        optimizer: ``SGD``, ``Adam`` or ``AdamW``.
        lr: Initial learning rate (ultralytics ``lr0``).
        momentum: SGD momentum, or beta1 for Adam/AdamW.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        out: Folder holding run folders (ultralytics ``project``).
        name: Run folder name under `out`; an existing one is overwritten.
        seed: Random seed.
        workers: Data loader worker processes.
        warmup_epochs: Epochs of learning-rate warmup (0 = none).
        mosaic: Probability of mosaic augmentation.
        nbs: Nominal batch size: gradients are accumulated up to it (None = ultralytics' 64).
        val: Validate after every epoch (the last epoch is always validated).
        plots: Save ultralytics' plots (results.png, confusion matrix, PR curves).
        amp: Mixed precision on CUDA (its download-based self-check is skipped).
        overrides: Any other ultralytics training argument, e.g. ``{"scale": 0.0}``.
    """

    data: str
    model: str = "yolov8n.yaml"
    epochs: int = 100
    imgsz: int = 640
    batch: int = 16
    optimizer: str = "SGD"
    lr: float = 0.01
    momentum: float = 0.937
    device: str = "auto"
    out: str = "runs/detect"
    name: str = "train"
    seed: int = 0
    workers: int = 8
    warmup_epochs: float = 3.0
    mosaic: float = 1.0
    nbs: int | None = None
    val: bool = True
    plots: bool = True
    amp: bool = True
    overrides: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise `ConfigError` for values ultralytics would reject later or silently change."""
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer {self.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
        if self.epochs < 1 or self.batch < 1 or self.imgsz < 32:
            raise ConfigError("epochs and batch must be >= 1 and imgsz >= 32")
        if not (math.isfinite(self.lr) and self.lr > 0) or not 0 <= self.momentum < 1:
            raise ConfigError(
                f"need lr > 0 and 0 <= momentum < 1 (got lr={self.lr}, momentum={self.momentum})"
            )
        reserved = sorted(RESERVED & set(self.overrides))
        if reserved:
            raise ConfigError(f"set {', '.join(reserved)} with their own options, not as overrides")


@dataclass
class ValConfig:
    """One validation: trained `weights` on split `split` of `data`."""

    data: str
    weights: str
    split: str = "val"
    imgsz: int = 640
    batch: int = 16
    conf: float = 0.001
    iou: float = 0.7
    device: str = "auto"
    out: str = "runs/detect"
    name: str = "val"
    workers: int = 8
    plots: bool = True


def ultralytics_device(device: str) -> str:
    """scratchlab device name (``auto``/``cpu``/``cuda:N``) -> ultralytics device string."""
    dev = resolve_device(device)
    return "cpu" if dev.type == "cpu" else str(dev.index or 0) if dev.type == "cuda" else dev.type


class _EpochTimer:
    """Callbacks that add up the seconds spent in training epochs (validation excluded)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.epochs = 0
        self.images = 0
        self._start = 0.0

    @staticmethod
    def _now() -> float:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
        return time.perf_counter()

    def start(self, trainer: Any) -> None:
        self._start = self._now()

    def end(self, trainer: Any) -> None:
        self.seconds += self._now() - self._start
        self.epochs += 1
        self.images = len(trainer.train_loader.dataset)


def train(config: TrainConfig) -> TrainResult:
    """Train a YOLO detector, validate the best weights, write ``results.json`` in the run
    folder."""
    config.validate()
    data = check_data(config.data)
    device = ultralytics_device(config.device)
    model = load_model(config.model)
    timer = _EpochTimer()
    model.add_callback("on_train_epoch_start", timer.start)
    model.add_callback("on_train_epoch_end", timer.end)
    args: dict[str, Any] = dict(
        data=data,
        epochs=config.epochs,
        imgsz=config.imgsz,
        batch=config.batch,
        optimizer=config.optimizer,
        lr0=config.lr,
        momentum=config.momentum,
        device=device,
        project=str(Path(config.out).resolve()),
        name=config.name,
        exist_ok=True,
        seed=config.seed,
        workers=config.workers,
        warmup_epochs=config.warmup_epochs,
        mosaic=config.mosaic,
        val=config.val,
        plots=config.plots,
        amp=config.amp and device != "cpu",
        verbose=False,
    )
    if config.nbs is not None:
        args["nbs"] = config.nbs
    args.update(config.overrides)
    try:
        with no_amp_download(), keep_torch_settings():
            raw = model.train(**args)
    except FileNotFoundError as exc:
        raise DatasetNotFoundError(
            f"cannot train on {data}: {' '.join(str(exc).split())}"
        ) from None
    run_dir = Path(model.trainer.save_dir)
    metrics = DetectMetrics.from_ultralytics(
        raw if raw is not None else model.trainer.validator.metrics
    )
    weights = run_dir / "weights" / "best.pt"
    result = TrainResult(
        metrics, run_dir, weights, run_dir / RESULTS_FILE, timer.epochs, timer.images, timer.seconds
    )
    timings = {
        "train_seconds": timer.seconds,
        "images_per_second": result.images_per_second,
        "epochs": timer.epochs,
        "train_images": timer.images,
    }
    write_results(result.results_json, config, metrics, timings, device, {"run_dir": str(run_dir)})
    return result


def val(config: ValConfig) -> ValResult:
    """Validate weights on a dataset split; write ``results.json`` in the run folder."""
    data = check_data(config.data, (config.split,))
    device = ultralytics_device(config.device)
    model = load_model(config.weights)
    try:
        with keep_torch_settings():
            raw = model.val(
                data=data,
                split=config.split,
                imgsz=config.imgsz,
                batch=config.batch,
                conf=config.conf,
                iou=config.iou,
                device=device,
                project=str(Path(config.out).resolve()),
                name=config.name,
                exist_ok=True,
                workers=config.workers,
                plots=config.plots,
                verbose=False,
            )
    except FileNotFoundError as exc:
        raise DatasetNotFoundError(
            f"cannot validate on split {config.split!r} of {data}: {' '.join(str(exc).split())}"
        ) from None
    run_dir = Path(raw.save_dir)
    metrics = DetectMetrics.from_ultralytics(raw)
    results_json = write_results(
        run_dir / RESULTS_FILE,
        asdict(config),
        metrics,
        device=device,
        extra={"run_dir": str(run_dir)},
    )
    return ValResult(metrics, run_dir, results_json)
