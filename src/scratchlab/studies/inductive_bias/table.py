"""The study's table (one row per planned run) and the statistics over seeds it quotes."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from scratchlab.experiments import RunRecord
from scratchlab.util import Stat
from scratchlab.util.stats import mean_std

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
        row = {"study": study, **run.meta(), "status": "missing"}
        if (record := records.get(run.config.run_name)) is not None:
            row.update({k: record.summary.get(v) for k, v in SUMMARY_KEYS.items()},
                       train_seconds=record.timings.train_seconds, status=record.status)
        rows.append(row)
    table = pd.DataFrame(rows, columns=COLUMNS).astype({"kernel_size": "Int64"})
    numbers = [*SUMMARY_KEYS, "train_seconds"]
    table[numbers] = table[numbers].apply(pd.to_numeric, errors="coerce")
    return table


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean, std, 95% CI and count over seeds of train/valid accuracy and epochs, per condition."""
    return mean_std(table[table["status"] == "ok"], GROUP, ["train_acc", "valid_acc", "epochs"])


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
    """`metric` over the seeds of the rows `select` picks (it prints with a % sign)."""
    values = select(table, experiment, model, **where)[metric].dropna()
    return Stat(tuple(float(v) for v in values), unit="%")


def per_lr(table: pd.DataFrame, model: str) -> dict[float, Stat]:
    """q7: the validation accuracy of `model` per learning rate, lowest rate first."""
    lrs = sorted(select(table, "q7", model)["lr"].unique())
    return {lr: stat(table, "q7", model, lr=lr) for lr in lrs}
