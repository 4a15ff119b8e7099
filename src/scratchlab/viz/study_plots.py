"""Figures the studies share: annotated heat maps, mean-and-spread bands, dots by group, titled
panels side by side (of kernels, say), bars over seeds and curves per epoch."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from scratchlab.training.results import FitResult
from scratchlab.util.stats import Stat
from scratchlab.viz.classification import plot_kernels


def annotated_heatmap(ax: Axes, grid: pd.DataFrame, shown: np.ndarray | None = None,
                      text: Callable[[float], str] = "{:.1f}".format,
                      dark: Callable[[float], bool] = lambda value: False,
                      fontsize: float = 8, **imshow: Any) -> AxesImage:
    """`grid` as an image (or `shown`, its colour values), each cell's value written on it.

    Ticks name the grid's columns and index (`:g`); a cell where `dark(value)` gets white text.
    """
    values = grid.to_numpy(dtype=float)
    image = ax.imshow(values if shown is None else shown, **imshow)
    for (i, j), value in np.ndenumerate(values):
        ax.text(j, i, text(value), ha="center", va="center", fontsize=fontsize,
                color="white" if dark(value) else "black")
    ax.set_xticks(range(grid.shape[1]), [f"{c:g}" for c in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [f"{r:g}" for r in grid.index])
    return image


def mean_band(ax: Axes, x: np.ndarray, values: np.ndarray, colour: str, label: str) -> None:
    """The mean of `values` (runs, points) over runs, with a band of +- their std (NaN skipped)."""
    with warnings.catch_warnings():  # points that no run reached stay empty
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, std = np.nanmean(values, 0), np.nan_to_num(np.nanstd(values, 0))
    ax.plot(x, mean, color=colour, label=label)
    ax.fill_between(x, mean - std, mean + std, color=colour, alpha=0.2)


def dots_by_group(ax: Axes, table: pd.DataFrame, group: str, columns: dict[str, str]) -> None:
    """A dot per row for each of `columns` (column: label), side by side at each `group` value."""
    groups = list(table[group].unique())
    for k, (column, label) in enumerate(columns.items()):
        offset = (k - (len(columns) - 1) / 2) * 0.25
        ax.scatter([groups.index(g) + offset for g in table[group]], table[column], s=14,
                   label=label)
    ax.set_xticks(range(len(groups)), groups)


SUBPLOT_OPTIONS = ("sharex", "sharey", "squeeze", "width_ratios", "height_ratios", "subplot_kw",
                   "gridspec_kw")


def figure_and_axes(rows: int = 1, cols: int = 1, **kwargs: Any) -> tuple[Figure, Any]:
    """`plt.subplots(rows, cols, **kwargs)`, the figure closed in pyplot at once: kept by whoever
    holds it (a notebook shows it once, where it is returned), never piling up in pyplot's list
    of open figures."""
    grid = {key: kwargs.pop(key) for key in SUBPLOT_OPTIONS if key in kwargs}
    fig = plt.figure(**kwargs)
    plt.close(fig)
    return fig, fig.subplots(rows, cols, **grid)


def panel_row(panels: Mapping[str, Any], draw: Callable[[Any, Any], object],
              size: tuple[float, float] = (3, 3), tight: bool = False) -> Figure:
    """One panel of `size` inches per item, side by side: `draw(item, ax)`, titled by its key;
    `tight`: matplotlib's tight layout."""
    fig, axes = figure_and_axes(1, len(panels), figsize=(size[0] * len(panels), size[1]),
                                squeeze=False)
    for ax, (title, item) in zip(axes[0], panels.items(), strict=True):
        draw(item, ax)
        ax.set_title(title, fontsize=9)
    if tight:
        fig.tight_layout()
    return fig


def kernel_row(panels: Mapping[str, torch.Tensor]) -> Figure:
    """Convolution kernels (out, in, k, k) side by side, a panel per title, a row per filter."""
    return panel_row(panels, lambda weights, ax: plot_kernels(weights, nrow=len(weights), ax=ax))


def seed_bars(items: Sequence[tuple[str, Stat]], title: str, chance: float | None = None,
              ylabel: str = "validation accuracy (%)") -> Figure:
    """A bar per (label, number over seeds): the mean with its 95% confidence interval as the
    error bar and each seed's value as a dot, on a 0-105 axis; `chance` draws a dotted line."""
    fig, ax = figure_and_axes(figsize=(max(4.0, 1.1 * len(items)), 4))
    for i, (_, s) in enumerate(items):
        ax.bar(i, s.mean, yerr=s.ci, capsize=4, color=f"C{i % 10}", alpha=0.8)
        ax.plot([i] * s.n, s.values, "k.", ms=4)
    if chance is not None:
        ax.axhline(chance, color="grey", ls=":", label="chance")
        ax.legend(loc="lower right")
    ax.set_xticks(range(len(items)), [label for label, _ in items], rotation=30, ha="right")
    ax.set(ylabel=ylabel, ylim=(0, 105), title=title)
    fig.text(0.01, 0.01, "bars: mean and 95% CI over seeds; dots: seeds", fontsize=7)
    return fig


def epoch_curves(histories: Mapping[str, FitResult], title: str = "",
                 target: float | None = None) -> Figure:
    """Loss (log scale) and accuracy per epoch of each run, train solid and validation dashed;
    `target`: an accuracy drawn as a dotted line."""
    fig, axes = figure_and_axes(1, 2, figsize=(10, 3.6), squeeze=False)
    for i, (label, fit) in enumerate(histories.items()):
        epochs = np.arange(1, fit.num_epochs + 1)
        for ax, train, valid in ((axes[0, 0], fit.epoch_mean("train_loss"),
                                  fit.epoch_mean("test_loss")),
                                 (axes[0, 1], fit.train_acc, fit.test_acc)):
            ax.plot(epochs, train, color=f"C{i}", label=f"{label} train")
            ax.plot(epochs, valid, color=f"C{i}", ls="--", label=f"{label} valid")
    axes[0, 0].set(xlabel="epoch", ylabel="loss", yscale="log", title=f"{title}loss")
    axes[0, 1].set(xlabel="epoch", ylabel="accuracy (%)", title=f"{title}accuracy")
    if target is not None:
        axes[0, 1].axhline(target, color="grey", ls=":")
    axes[0, 0].legend(fontsize=7)
    return fig
