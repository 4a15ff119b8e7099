from .coco import PrepareReport, format_report, prepare_coco
from .grid import GridConfig, GridEntry, GridResult, run_grid
from .mappings import TACO7, TACO7_CLASSES, CategoryMapping, load_mapping_yaml
from .offline import check_model, load_model, load_ultralytics
from .predict import predict
from .results import Detection, DetectMetrics, ImageDetections, TrainResult, ValResult, load_results
from .yolo import TrainConfig, ValConfig, train, val

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
