"""Object detection with ultralytics YOLO, offline: train, val, predict, grid search, COCO -> YOLO.

Needs the ``detect`` extra (``pip install 'scratchlab[detect]'``); ultralytics is imported only
when a model is loaded. The COCO conversion and the TACO mapping work without it. The names
below load on first use, so the `scratchlab` command starts fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CategoryMapping": "scratchlab.detect.mappings",
    "DetectMetrics": "scratchlab.detect.results",
    "Detection": "scratchlab.detect.results",
    "GridConfig": "scratchlab.detect.grid",
    "GridEntry": "scratchlab.detect.grid",
    "GridResult": "scratchlab.detect.grid",
    "ImageDetections": "scratchlab.detect.results",
    "PrepareReport": "scratchlab.detect.coco",
    "TACO7": "scratchlab.detect.mappings",
    "TACO7_CLASSES": "scratchlab.detect.mappings",
    "TrainConfig": "scratchlab.detect.yolo",
    "TrainResult": "scratchlab.detect.results",
    "ValConfig": "scratchlab.detect.yolo",
    "ValResult": "scratchlab.detect.results",
    "check_model": "scratchlab.detect.offline",
    "format_report": "scratchlab.detect.coco",
    "load_mapping_yaml": "scratchlab.detect.mappings",
    "load_model": "scratchlab.detect.offline",
    "load_results": "scratchlab.detect.results",
    "load_ultralytics": "scratchlab.detect.offline",
    "predict": "scratchlab.detect.yolo",
    "prepare_coco": "scratchlab.detect.coco",
    "run_grid": "scratchlab.detect.grid",
    "train": "scratchlab.detect.yolo",
    "val": "scratchlab.detect.yolo",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'scratchlab.detect' has no attribute {name!r}")
