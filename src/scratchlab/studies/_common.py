"""What the packaged studies share: training runs, evaluating models on any split, tables, reports."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from scipy import stats
from torch import nn

from scratchlab.data.cifar10 import locate_cifar10
from scratchlab.errors import DatasetNotFoundError
from scratchlab.experiments import ExperimentConfig, RunResult, run_experiment
from scratchlab.experiments.executors import is_finished
from scratchlab.experiments.pipeline import build_data
from scratchlab.experiments.runner import checkpoint_prefix, timing_path
from scratchlab.studies.base import fmt_pm
from scratchlab.training import CheckpointFiles
from scratchlab.util import resolve_device
from scratchlab.util.progress_bars import progress
from scratchlab.viz import HtmlReport


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with `count` torch threads (None: unchanged); the old count is restored.

    Tiny models train fastest on one thread: more threads only add synchronisation.
    """
    old = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def study_threads(device: str | torch.device) -> contextlib.AbstractContextManager[None]:
    """One torch thread on a CPU (the studies' models are small: more threads only contend)."""
    return torch_threads(1 if resolve_device(str(device)).type == "cpu" else None)


def train_runs(configs: Sequence[ExperimentConfig], desc: str = "runs") -> list[RunResult]:
    """Every config through `run_experiment`, in order (a progress bar over the runs).

    A run whose results file holds this very config finishes at once from its checkpoint; other
    checkpoints of its name (a changed config, an interrupted run) are removed so it trains afresh.
    """
    results = []
    for config in progress(configs, desc=desc):
        if config.checkpoints and not is_finished(config):
            files = CheckpointFiles(checkpoint_prefix(config))
            for path in (files.last, files.best, timing_path(config)):
                path.unlink(missing_ok=True)
        results.append(run_experiment(config, verbose=False))
    return results


def cifar10_available(root: str | None = None) -> bool:
    """Whether CIFAR-10 is found under `root` (or the default search path) without downloading."""
    try:
        locate_cifar10("test", root)
    except DatasetNotFoundError:
        return False
    return True


def split_tensors(config: ExperimentConfig, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and labels of `split` as a run of `config` sees them (same subset and normalisation)."""
    device = resolve_device(config.device)
    if split == config.train_split:
        data = build_data(config, device)
        return data.train.tensors[0], data.train.tensors[1]
    data = build_data(config.model_copy(update={"test_split": split}), device)
    return data.test.tensors[0], data.test.tensors[1]


@torch.no_grad()
def class_scores(model: Any, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """Class scores (N, C) of a torch or from-scratch model, in evaluation mode."""
    is_torch = isinstance(model, nn.Module)
    was_training = model.training
    model.train(False)
    try:
        parts = []
        for start in range(0, len(x), batch_size):
            batch = x[start : start + batch_size]
            parts.append(model(batch if is_torch else batch.reshape(len(batch), -1)))
        return torch.cat(parts)
    finally:
        model.train(was_training)


def accuracy(model: Any, x: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy in percent of the arg-max class."""
    return 100.0 * float((class_scores(model, x).argmax(dim=1) == y).float().mean())


def final(values: Sequence[float]) -> float:
    return float(values[-1]) if len(values) else math.nan


def difference_is_noise(a: pd.Series, b: pd.Series, n_eval: int) -> tuple[float, float, bool]:
    """(mean difference a - b, its standard error, |difference| <= 2 standard errors).

    Accuracies in percent. With at least two seeds each, the standard error comes from the spread
    over seeds; with one, from the binomial error of accuracies measured on `n_eval` samples.
    """
    diff = float(a.mean() - b.mean())
    if len(a) >= 2 and len(b) >= 2:
        se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    else:
        pa, pb = a.mean() / 100, b.mean() / 100
        se = 100 * math.sqrt((pa * (1 - pa) + pb * (1 - pb)) / max(n_eval, 1))
    return diff, se, abs(diff) <= 2 * se


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Welch t-test p-value of equal means (NaN with fewer than two values each)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2 or (a.std() == 0 and b.std() == 0):
        return math.nan
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def mean_text(values: pd.Series, digits: int = 1) -> str:
    """'mean +- std' of values over seeds, or just the value when there is one."""
    if len(values) < 2:
        return f"{values.mean():.{digits}f}"
    return fmt_pm(float(values.mean()), float(values.std(ddof=1)), digits)


def pm(summary: pd.DataFrame, mask: pd.Series | np.ndarray, metric: str, digits: int = 1) -> str:
    """'mean +- std' of `metric` in the (single) summary row selected by `mask`."""
    row = summary[mask].iloc[0]
    return fmt_pm(float(row[f"{metric}_mean"]), float(row[f"{metric}_std"]), digits)


def build_report(
    title: str,
    description: str,
    findings: list[str],
    summary: pd.DataFrame | None,
    figures: dict[str, Figure],
    settings: dict[str, Any],
    notes: Sequence[str] = (),
) -> HtmlReport:
    """A study's report section: what it does, its findings, summary table, figures and settings."""
    report = HtmlReport(title, subtitle=description)
    report.heading("Findings").bullets(findings)
    if summary is not None and not summary.empty:
        report.heading("Summary (mean and std over seeds)").table(summary)
    for name, fig in figures.items():
        report.heading(name.replace("_", " "), level=3).figure(fig, alt=name, close=False)
    report.heading("Settings", level=3).mapping(settings)
    for note in notes:
        report.paragraph(note)
    return report
