"""The study's table (one row per trained model and seed), built from the stored results files,
and the lookups the report quotes its numbers with."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scratchlab.errors import ConfigError
from scratchlab.experiments.runner import read_result, result_path
from scratchlab.studies.base import fmt_pm, mean_std
from scratchlab.studies.inductive_bias_plan import PlannedRun
from scratchlab.training import FitResult

COLUMNS = [
    "study", "experiment", "model", "condition", "kernel_size", "images_per_class", "classes",
    "lr", "batch_size", "seed", "epochs", "train_acc", "valid_acc", "best_valid_acc", "params",
    "train_seconds", "status", "run_name",
]
GROUP = ["experiment", "model", "condition", "kernel_size", "images_per_class", "lr"]


def build_table(runs: list[PlannedRun], study: str) -> pd.DataFrame:
    """One row per planned run, with the final train/valid accuracy (percent) from its results file."""
    rows = []
    for run in runs:
        row = {"study": study, **run.meta()}
        path = result_path(run.config)
        data = read_result(path) if path.exists() else {"status": "missing"}
        summary = data.get("summary") or {}
        row.update({
            "epochs": summary.get("epochs"), "train_acc": summary.get("final_train_acc"),
            "valid_acc": summary.get("final_test_acc"), "best_valid_acc": summary.get("best_test_acc"),
            "params": summary.get("params"), "train_seconds": summary.get("train_seconds"),
            "status": data.get("status", "ok"),
        })
        rows.append(row)
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["kernel_size"] = table["kernel_size"].astype("Int64")
    for column in ("epochs", "train_acc", "valid_acc", "best_valid_acc", "params", "train_seconds"):
        table[column] = pd.to_numeric(table[column], errors="coerce")
    return table


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and count over seeds of train/valid accuracy and epochs, per condition."""
    ok = table[table["status"] == "ok"]
    return mean_std(ok, GROUP, ["train_acc", "valid_acc", "epochs"])


def load_history(runs: list[PlannedRun], run_name: str) -> FitResult | None:
    """The per-epoch history of one run of the study (None when it has none)."""
    for run in runs:
        if run.config.run_name == run_name:
            data = read_result(result_path(run.config))
            return FitResult.from_dict(data["results"]) if data.get("results") else None
    raise ConfigError(f"run {run_name} is not part of this study")


@dataclass(frozen=True)
class Stat:
    """A number over seeds: mean, std (ddof=1, 0 for one seed) and the per-seed values."""

    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def std(self) -> float:
        return float(np.std(self.values, ddof=1)) if self.n > 1 else 0.0

    def __str__(self) -> str:
        return f"{fmt_pm(self.mean, self.std)}%"


def select(table: pd.DataFrame, **where: object) -> pd.DataFrame:
    """The successful rows whose columns equal the given values (None matches a missing value)."""
    mask = table["status"] == "ok"
    for column, value in where.items():
        mask &= table[column].isna() if value is None else (table[column] == value).fillna(False).astype(bool)
    return table[mask]


def stat(table: pd.DataFrame, metric: str = "valid_acc", **where: object) -> Stat:
    """`metric` over the seeds of the rows matching `where` (see `select`)."""
    values = select(table, **where)[metric].dropna()
    return Stat(tuple(float(v) for v in values))


def data_paths(runs: list[PlannedRun]) -> dict[str, Path]:
    """run_name -> results file, for each run of the study."""
    return {run.config.run_name: result_path(run.config) for run in runs}
