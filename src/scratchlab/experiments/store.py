"""The results store: a folder of `<run_name>.json` files, read into tables and aggregated over seeds."""

from __future__ import annotations

import fnmatch
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from scratchlab.errors import ConfigError
from scratchlab.experiments.runner import read_result

NOT_VARIED = {"run_name", "seed", "out_dir"}
METRICS = ["best_test_acc", "final_test_acc", "final_train_acc", "epochs", "epochs_to_best", "train_seconds", "params", "flops"]


def result_files(directory: str | Path, pattern: str = "*") -> list[Path]:
    """Results files in `directory` whose run name matches the glob `pattern` (sweep manifests excluded)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(f"results folder {directory} does not exist; run an experiment or sweep first")
    pattern = pattern.removesuffix(".json")
    return sorted(
        p for p in directory.glob("*.json")
        if not p.name.endswith(".sweep.json") and fnmatch.fnmatchcase(p.stem, pattern)
    )


def load_runs(directory: str | Path, pattern: str = "*") -> list[dict[str, Any]]:
    """The content of every matching results file, each with its `path`."""
    runs = []
    for path in result_files(directory, pattern):
        data = read_result(path)
        if isinstance(data, dict) and "config" in data:
            runs.append({**data, "path": str(path)})
    return runs


def varied_fields(configs: list[dict[str, Any]]) -> list[str]:
    """Config fields whose value differs between runs (seed, name and folder aside)."""
    if len(configs) < 2:
        return []
    keys = sorted(set().union(*configs) - NOT_VARIED)
    return [k for k in keys if len({_hashable(c.get(k)) for c in configs}) > 1]


def shared_config(configs: list[dict[str, Any]]) -> dict[str, Any]:
    """The config fields every run has in common."""
    if not configs:
        return {}
    varied = set(varied_fields(configs)) | NOT_VARIED
    return {k: v for k, v in configs[0].items() if k not in varied}


def runs_table(directory: str | Path, pattern: str = "*") -> pd.DataFrame:
    """One row per run: name, status, varied fields, seed and the summary metrics."""
    runs = load_runs(directory, pattern)
    varied = varied_fields([r["config"] for r in runs])
    rows = []
    for run in runs:
        row = {"run_name": run["config"]["run_name"], "status": run.get("status", "ok")}
        row.update({k: _display(run["config"].get(k)) for k in varied})
        row["seed"] = run["config"].get("seed")
        summary = run.get("summary") or {}
        row.update({m: summary.get(m) for m in METRICS})
        row["error"] = run.get("error")
        rows.append(row)
    columns = ["run_name", "status", *varied, "seed", *METRICS, "error"]
    return pd.DataFrame(rows, columns=columns)


def ci95(values: np.ndarray) -> float:
    """Half-width of the 95% confidence interval of the mean (Student t); NaN for fewer than 2."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) < 2:
        return math.nan
    return float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))


def aggregate(table: pd.DataFrame, metric: str = "best_test_acc") -> pd.DataFrame:
    """Mean, std, 95% CI and count of `metric` over seeds, per group of runs that differ only by seed."""
    ok = table[table["status"] == "ok"].copy()
    if ok.empty:
        return pd.DataFrame(columns=["run", "mean", "std", "ci95", "n"])
    ok["run"] = ok["run_name"].map(strip_seed)
    grouped = ok.groupby("run", sort=True)[metric]
    out = pd.DataFrame({
        "mean": grouped.mean(),
        "std": grouped.std(ddof=1),
        "ci95": grouped.apply(lambda v: ci95(v.to_numpy())),
        "n": grouped.count(),
    }).reset_index()
    extra = ok.groupby("run", sort=True)[["epochs", "train_seconds"]].mean().reset_index()
    return out.merge(extra, on="run")


def strip_seed(run_name: str) -> str:
    """A run name without its `_s<seed>` suffix (the name of its group of seeds)."""
    return re.sub(r"_s\d+$", "", run_name)


def _hashable(value: Any) -> Any:
    return repr(value)


def _display(value: Any) -> Any:
    if isinstance(value, list):
        return "-".join(map(str, value))
    if isinstance(value, dict):
        return repr(value)
    return value
