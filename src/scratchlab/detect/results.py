"""Typed results of detection runs and the scratchlab results JSON they are stored in.

A results JSON is ``{"config": {...}, "results": {"map50", "map50_95", "precision", "recall",
"per_class_ap50_95", "per_class_ap50"}, "timings": {...}, "environment": {...}}``.
"""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scratchlab.errors import ConfigError
from scratchlab.util import atomic_write_json
from scratchlab.util.environment import git_commit

RESULTS_FILE = "results.json"


@dataclass
class DetectMetrics:
    """Box metrics of one validation: means over classes and AP per class (keyed by name)."""

    map50: float
    map50_95: float
    precision: float
    recall: float
    per_class_ap50_95: dict[str, float] = field(default_factory=dict)
    per_class_ap50: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_ultralytics(cls, metrics: Any) -> DetectMetrics:
        """Read an ultralytics ``DetMetrics`` (as returned by ``YOLO.val``/``YOLO.train``)."""
        box, names = metrics.box, metrics.names
        index = [int(i) for i in metrics.ap_class_index]
        ap, ap50 = list(box.ap), list(box.ap50)
        return cls(
            map50=float(box.map50),
            map50_95=float(box.map),
            precision=float(box.mp),
            recall=float(box.mr),
            per_class_ap50_95={str(names[i]): float(v) for i, v in zip(index, ap, strict=True)},
            per_class_ap50={str(names[i]): float(v) for i, v in zip(index, ap50, strict=True)},
        )

    def summary(self) -> str:
        """One line: mAP50, mAP50-95, precision, recall."""
        return (
            f"mAP50 {self.map50:.4f}  mAP50-95 {self.map50_95:.4f}  "
            f"precision {self.precision:.4f}  recall {self.recall:.4f}"
        )


@dataclass
class TrainResult:
    """What `train` returns: final validation metrics, where everything went, and timings."""

    metrics: DetectMetrics
    run_dir: Path
    weights: Path
    results_json: Path
    epochs: int
    train_images: int
    train_seconds: float

    @property
    def images_per_second(self) -> float:
        """Training throughput: images seen per second of training (validation excluded)."""
        return self.train_images * self.epochs / self.train_seconds if self.train_seconds else 0.0


@dataclass
class ValResult:
    """What `val` returns: metrics, the run folder (plots) and the results JSON."""

    metrics: DetectMetrics
    run_dir: Path
    results_json: Path


@dataclass
class Detection:
    """One predicted box: corners in pixels (x0, y0, x1, y1), class index, class name,
    confidence."""

    xyxy: tuple[float, float, float, float]
    cls: int
    name: str
    conf: float


@dataclass
class ImageDetections:
    """The detections in one image and, when drawn, where the annotated image was saved."""

    path: Path
    detections: list[Detection]
    saved_to: Path | None = None


def environment(device: str | None = None) -> dict[str, Any]:
    """Versions, platform, device and git commit of the current run."""
    import torch

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "device": device,
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "argv": sys.argv,
    }
    try:
        import ultralytics

        info["ultralytics"] = ultralytics.__version__
    except ImportError:
        info["ultralytics"] = None
    info["git_commit"] = git_commit()
    return info


def _plain(value: Any) -> Any:
    """JSON-friendly copy: paths as strings, dataclasses as dicts."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def write_results(
    path: Path,
    config: Any,
    metrics: DetectMetrics,
    timings: dict[str, float] | None = None,
    device: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a results JSON atomically; `config` is a dataclass or a dict."""
    cfg = asdict(config) if hasattr(config, "__dataclass_fields__") else dict(config)
    doc = {
        "config": _plain(cfg),
        "results": asdict(metrics),
        "timings": timings or {},
        "environment": environment(device),
        **(extra or {}),
    }
    return atomic_write_json(path, doc)


def load_results(path: str | Path) -> tuple[dict[str, Any], DetectMetrics]:
    """Read a results JSON written by `write_results`: (config dict, metrics)."""
    try:
        doc = json.loads(Path(path).read_text())
        return doc["config"], DetectMetrics(**doc["results"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"cannot read detection results {path}: {exc}; run the command again"
        ) from None
