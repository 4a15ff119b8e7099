"""Tables of stored runs (no torch): one row per run; mean, std and 95% CI over seeds per group."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from scratchlab.experiments.records import RunRecord, load_records
from scratchlab.util.stats import ci95

NOT_VARIED = {"run_name", "seed", "out_dir"}
METRICS = ["best_test_acc", "final_test_acc", "final_train_acc", "epochs", "epochs_to_best",
           "train_seconds", "params", "flops"]


def varied_fields(configs: Sequence[dict[str, Any]]) -> list[str]:
    """Config fields (flat names) whose value differs between runs (seed, name, folder aside)."""
    keys = sorted(set().union(*configs) - NOT_VARIED)
    return [k for k in keys if len({repr(c.get(k)) for c in configs}) > 1]


def shared_config(configs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The config fields (flat names) every run has in common."""
    if not configs:
        return {}
    varied = set(varied_fields(configs)) | NOT_VARIED
    return {k: v for k, v in configs[0].items() if k not in varied}


def records_table(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per run: name, status, varied fields, seed, the summary metrics and the error."""
    configs = [r.config.flat() for r in records]
    fields = varied_fields(configs)
    # a varied config field named like a metric (the epoch budget) keeps its own column
    varied = [f"config_{k}" if k in METRICS else k for k in fields]
    rows = []
    for record, config in zip(records, configs, strict=True):
        numbers = {**record.summary, "train_seconds": record.timings.train_seconds}
        rows.append({"run_name": config["run_name"], "status": record.status,
                     **{c: _display(config.get(k)) for c, k in zip(varied, fields, strict=True)},
                     "seed": config["seed"], **{m: _number(numbers.get(m)) for m in METRICS},
                     "error": record.error})
    return pd.DataFrame(rows, columns=["run_name", "status", *varied, "seed", *METRICS, "error"])


def runs_table(directory: str | Path, pattern: str = "*") -> pd.DataFrame:
    """`records_table` of every results file under `directory` matching `pattern`."""
    return records_table(load_records(directory, pattern))


def aggregate(table: pd.DataFrame, metric: str = "best_test_acc") -> pd.DataFrame:
    """Mean, std, 95% CI and count of `metric` per group of runs that differ only by seed."""
    ok = table[table["status"] == "ok"].copy()
    if ok.empty:
        return pd.DataFrame(columns=["run", "mean", "std", "ci95", "n"])
    ok["run"] = ok["run_name"].map(strip_seed)
    ok[metric] = pd.to_numeric(ok[metric], errors="coerce")
    return ok.groupby("run", sort=True).agg(
        mean=(metric, "mean"), std=(metric, "std"), ci95=(metric, lambda v: ci95(v.to_numpy())),
        n=(metric, "count"), epochs=("epochs", "mean"), train_seconds=("train_seconds", "mean"),
    ).reset_index()


def strip_seed(run_name: str) -> str:
    """A run name without its `_s<seed>` suffix (the name of its group of seeds)."""
    return re.sub(r"_s\d+$", "", run_name)


def _number(value: Any) -> Any:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def _display(value: Any) -> Any:
    if isinstance(value, list):
        return "-".join(map(str, value))
    if isinstance(value, dict):
        return repr(value)
    return value
