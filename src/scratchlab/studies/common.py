"""What the packaged studies share besides statistics: data as runs see it, noise, figures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from matplotlib.figure import Figure

from scratchlab.data.cifar10 import locate_cifar10
from scratchlab.errors import DatasetNotFoundError
from scratchlab.experiments import ExperimentConfig, load_run_data
from scratchlab.util import resolve_device
from scratchlab.viz import figure_and_axes


def auto_dataset(dataset: str, root: str | None = None) -> str:
    """`dataset`; `auto`: cifar10 where found under `root` (without downloading), else digits."""
    if dataset != "auto":
        return dataset
    try:
        locate_cifar10("test", root)
    except DatasetNotFoundError:
        return "digits"
    return "cifar10"


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


def new_figure(
        nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (5, 4)) -> tuple[Figure, Any]:
    """A grid of axes of `size` inches each (always 2-d), the figure closed in pyplot."""
    return figure_and_axes(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False)
