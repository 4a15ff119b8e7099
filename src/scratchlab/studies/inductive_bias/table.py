"""The study's table (one row per planned run) and the statistics over seeds it quotes."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scratchlab.experiments import RunRecord
from scratchlab.util.stats import fmt_pm, mean_std

from .plan import PlannedRun

COLUMNS = [
    "study", "experiment", "model", "condition", "kernel_size", "images_per_class", "classes",
    "lr", "batch_size", "seed", "epochs", "train_acc", "valid_acc", "best_valid_acc", "params",
    "train_seconds", "status", "run_name",
]
GROUP = ["experiment", "model", "condition", "kernel_size", "images_per_class", "lr"]
# table column -> key of the record's summary
SUMMARY_KEYS = {"epochs": "epochs", "train_acc": "final_train_acc",
                "valid_acc": "final_test_acc", "best_valid_acc": "best_test_acc",
                "params": "params"}


def build_table(runs: list[PlannedRun], records: Mapping[str, RunRecord],
                study: str) -> pd.DataFrame:
    """One row per planned run with its final train/valid accuracy (percent) from its record."""
    rows = []
    for run in runs:
        record = records.get(run.config.run_name)
        summary = record.summary if record is not None else {}
        rows.append({
            "study": study, **run.meta(), **{k: summary.get(v) for k, v in SUMMARY_KEYS.items()},
            "train_seconds": record.timings.train_seconds if record is not None else None,
            "status": record.status if record is not None else "missing",
        })
    table = pd.DataFrame(rows, columns=COLUMNS).astype({"kernel_size": "Int64"})
    numbers = [*SUMMARY_KEYS, "train_seconds"]
    table[numbers] = table[numbers].apply(pd.to_numeric, errors="coerce")
    return table


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean, std, 95% CI and count over seeds of train/valid accuracy and epochs, per condition."""
    return mean_std(table[table["status"] == "ok"], GROUP, ["train_acc", "valid_acc", "epochs"])


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


def select(table: pd.DataFrame, experiment: str, model: str | None = None,
           **where: object) -> pd.DataFrame:
    """The ok rows of `experiment` and `model` (None: any) matching `where` (None: missing)."""
    mask = (table["status"] == "ok") & (table["experiment"] == experiment)
    for column, value in ({"model": model, **where} if model else where).items():
        equal = (table[column] == value).fillna(False).astype(bool)
        mask &= table[column].isna() if value is None else equal
    return table[mask]


def stat(table: pd.DataFrame, experiment: str, model: str | None = None,
         metric: str = "valid_acc", **where: object) -> Stat:
    """`metric` over the seeds of the rows `select` picks."""
    values = select(table, experiment, model, **where)[metric].dropna()
    return Stat(tuple(float(v) for v in values))
