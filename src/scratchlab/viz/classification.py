"""Plots of classifiers: confusion matrices, 2-D decision boundaries, ROC curves, conv kernels.

Every function draws on `ax` when given (else on a new figure) and returns (fig, ax).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from matplotlib import pyplot as plt
from torch import nn

from scratchlab.classifiers import Classifier, ConfusionMatrix, plot_roc
from scratchlab.errors import ConfigError, ShapeError
from scratchlab.models import eval_mode

__all__ = ["plot_confusion_matrix", "plot_decision_boundary_2d", "plot_kernels", "plot_roc"]

MAX_GRID_POINTS = 4_000_000


def _figure(ax: Any, figsize: tuple[float, float]) -> tuple[Any, Any]:
    if ax is None:
        return plt.subplots(figsize=figsize)
    return ax.figure, ax


def _numpy(values: Any) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def plot_confusion_matrix(
    cm_or_counts: ConfusionMatrix | Any, class_names: list[str] | None = None, ax: Any = None
) -> tuple[Any, Any]:
    """Row-normalised rates as colours, with each cell's count and rate written in it."""
    cm = cm_or_counts if isinstance(cm_or_counts, ConfusionMatrix) else None
    if cm is None:
        counts = _numpy(cm_or_counts)
        if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
            raise ShapeError(f"a confusion matrix is square, got shape {counts.shape}")
        cm = ConfusionMatrix(counts)
    n = cm.num_classes
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    if len(names) != n:
        raise ConfigError(f"class_names: {n} names needed, got {len(names)}")
    fig, ax = _figure(ax, (1.2 + 0.6 * n, 1 + 0.6 * n))
    rates = cm.rates
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            colour = "white" if rates[i, j] > 0.5 else "black"
            text = f"{cm.counts[i, j]}\n{rates[i, j]:.0%}"
            ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=8)
    ax.set_xticks(range(n), names, rotation=45, ha="right")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return fig, ax


def _grid(x: np.ndarray, dx: float) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = x.min(axis=0), x.max(axis=0)
    margin = 0.05 * (hi - lo) + dx
    axes = [np.arange(lo[d] - margin[d], hi[d] + margin[d] + dx, dx) for d in range(2)]
    if len(axes[0]) * len(axes[1]) > MAX_GRID_POINTS:
        raise ConfigError(f"dx={dx} makes a grid over {MAX_GRID_POINTS:,} points; use a larger dx")
    return np.meshgrid(*axes)


def plot_decision_boundary_2d(
    classifier: Classifier, x: Any, y: Any, dx: float = 0.1, ax: Any = None
) -> tuple[Any, Any]:
    """The classifier's labels over a grid of step `dx` around 2-D points `x`, with the points."""
    x_np, y_np = _numpy(x), _numpy(y)
    if x_np.ndim != 2 or x_np.shape[1] != 2:
        raise ShapeError(f"x: 2-D points of shape (N, 2) needed, got {x_np.shape}")
    if dx <= 0:
        raise ConfigError(f"dx: a positive grid step is needed, got {dx}")
    xx, yy = _grid(x_np, dx)
    param = next(classifier.parameters(), None)
    grid = torch.tensor(np.stack([xx.ravel(), yy.ravel()], axis=1))
    grid = grid.to(param.device, param.dtype) if param is not None else grid.float()
    with eval_mode(classifier):
        labels = classifier.classify(grid).cpu().numpy().reshape(xx.shape)
    num_classes = int(max(labels.max(), y_np.max())) + 1
    levels = np.arange(num_classes + 1) - 0.5
    cmap = plt.get_cmap("RdBu" if num_classes == 2 else "tab10")
    fig, ax = _figure(ax, (6, 5))
    ax.contourf(xx, yy, labels, levels=levels, cmap=cmap, alpha=0.3)
    ax.scatter(
        x_np[:, 0],
        x_np[:, 1],
        c=y_np,
        cmap=cmap,
        vmin=levels[0],
        vmax=levels[-1],
        s=12,
        edgecolors="k",
        linewidths=0.3,
    )
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    return fig, ax


def plot_kernels(weights: torch.Tensor | nn.Conv2d, nrow: int | None = None, ax: Any = None):
    """Convolution kernels (out, in, kh, kw) as an image grid, each scaled to its own range.

    Three input channels are drawn as colour images, one per filter; otherwise every
    (filter, channel) slice is a grey image and, by default, each row holds one filter.
    """
    if isinstance(weights, nn.Conv2d):
        weights = weights.weight
    w = torch.as_tensor(weights).detach().cpu().float()
    if w.dim() != 4:
        raise ShapeError(f"kernels of shape (out, in, kh, kw) needed, got {tuple(w.shape)}")
    out_channels, in_channels = w.shape[:2]
    colour = in_channels == 3
    images = w if colour else w.reshape(out_channels * in_channels, 1, *w.shape[2:])
    if nrow is None:
        nrow = in_channels if in_channels not in (1, 3) else math.ceil(math.sqrt(len(images)))
    from torchvision.utils import make_grid  # torchvision takes a second to import

    grid = make_grid(images, nrow=nrow, normalize=True, scale_each=True, padding=1, pad_value=1)
    fig, ax = _figure(ax, (6, 6))
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.set_axis_off()
    return fig, ax
