"""Experiments: one config per run, sweeps over grids, executors, the results store and reports.

Names are imported on first use, so `scratchlab --help` and config parsing stay fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ExperimentConfig": "scratchlab.experiments.config",
    "RunOutcome": "scratchlab.experiments.executors",
    "run_configs": "scratchlab.experiments.executors",
    "build_report": "scratchlab.experiments.report",
    "RunResult": "scratchlab.experiments.runner",
    "load_experiment": "scratchlab.experiments.runner",
    "load_model": "scratchlab.experiments.runner",
    "run_experiment": "scratchlab.experiments.runner",
    "aggregate": "scratchlab.experiments.store",
    "load_runs": "scratchlab.experiments.store",
    "runs_table": "scratchlab.experiments.store",
    "SweepSpec": "scratchlab.experiments.sweep",
    "expand": "scratchlab.experiments.sweep",
    "load_sweep": "scratchlab.experiments.sweep",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'scratchlab.experiments' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
