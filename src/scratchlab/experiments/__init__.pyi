from .build import build_run_model, build_trainer, model_spec
from .config import ExperimentConfig, describe_validation_error
from .config_checks import CUDA_GRAPH_OPTIMIZERS, ignored_by
from .records import (
    RunRecord,
    find_records,
    load_experiment,
    load_record,
    load_records,
    result_path,
    write_record,
)
from .report import build_report
from .run import load_model, run_experiment, same_run, train_run
from .run_data import RunData, load_run_data
from .runs import run_configs
from .store import aggregate, ci95, records_table, runs_table, strip_seed
from .sweep import SweepSpec, expand, load_sweep

__all__ = [
    "CUDA_GRAPH_OPTIMIZERS",
    "ExperimentConfig",
    "RunData",
    "RunRecord",
    "SweepSpec",
    "aggregate",
    "build_report",
    "build_run_model",
    "build_trainer",
    "ci95",
    "describe_validation_error",
    "expand",
    "find_records",
    "ignored_by",
    "load_experiment",
    "load_model",
    "load_record",
    "load_records",
    "load_run_data",
    "load_sweep",
    "model_spec",
    "records_table",
    "result_path",
    "run_configs",
    "run_experiment",
    "runs_table",
    "same_run",
    "strip_seed",
    "train_run",
    "write_record",
]
