"""What the packaged studies share besides statistics: data as runs see it, noise, figures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import torch
from matplotlib.figure import Figure

from scratchlab.data.cifar10 import locate_cifar10
from scratchlab.errors import DatasetNotFoundError
from scratchlab.experiments import ExperimentConfig, load_run_data
from scratchlab.util import resolve_device


def cifar10_available(root: str | None = None) -> bool:
    """Whether CIFAR-10 is found under `root` (or the default search path) without downloading."""
    try:
        locate_cifar10("test", root)
    except DatasetNotFoundError:
        return False
    return True


def split_tensors(config: ExperimentConfig, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and labels of `split` as a run of `config` sees them (same subset, normalisation)."""
    device = resolve_device(config.device)
    if split == config.data.train_split:
        data = load_run_data(config, device)
        return data.train.tensors[0], data.train.tensors[1]
    data = load_run_data(config.replace(test_split=split), device)
    return data.test.tensors[0], data.test.tensors[1]


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


def new_figure(
        nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (5, 4)) -> tuple[Figure, Any]:
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows),
                             squeeze=False)
    return fig, axes
