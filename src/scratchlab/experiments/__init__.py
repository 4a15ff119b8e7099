"""Experiments: one config per run, sweeps over grids, executors, the results store and reports."""

from scratchlab.experiments.config import ExperimentConfig
from scratchlab.experiments.executors import RunOutcome, run_configs
from scratchlab.experiments.report import build_report
from scratchlab.experiments.runner import RunResult, load_experiment, load_model, run_experiment
from scratchlab.experiments.store import aggregate, load_runs, runs_table
from scratchlab.experiments.sweep import SweepSpec, expand, load_sweep

__all__ = [
    "ExperimentConfig",
    "RunOutcome",
    "RunResult",
    "SweepSpec",
    "aggregate",
    "build_report",
    "expand",
    "load_experiment",
    "load_model",
    "load_runs",
    "load_sweep",
    "run_configs",
    "run_experiment",
    "runs_table",
]
