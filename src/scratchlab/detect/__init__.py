"""Object detection with ultralytics YOLO, offline: train, val, predict, grid search, COCO -> YOLO.

Needs the ``detect`` extra (``pip install 'scratchlab[detect]'``); ultralytics is imported only
when a model is loaded. The COCO conversion and the TACO mapping work without it.
"""

from scratchlab.detect.coco import PrepareReport, format_report, prepare_coco
from scratchlab.detect.grid import GridConfig, GridEntry, GridResult, run_grid
from scratchlab.detect.mappings import TACO7, TACO7_CLASSES, CategoryMapping, load_mapping_yaml
from scratchlab.detect.offline import check_model, load_model, load_ultralytics
from scratchlab.detect.results import (
    Detection,
    DetectMetrics,
    ImageDetections,
    TrainResult,
    ValResult,
    load_results,
)
from scratchlab.detect.yolo import TrainConfig, ValConfig, predict, train, val

__all__ = [
    "TACO7",
    "TACO7_CLASSES",
    "CategoryMapping",
    "DetectMetrics",
    "Detection",
    "GridConfig",
    "GridEntry",
    "GridResult",
    "ImageDetections",
    "PrepareReport",
    "TrainConfig",
    "TrainResult",
    "ValConfig",
    "ValResult",
    "check_model",
    "format_report",
    "load_mapping_yaml",
    "load_model",
    "load_results",
    "load_ultralytics",
    "predict",
    "prepare_coco",
    "run_grid",
    "train",
    "val",
]
