"""Plot pieces of the course studies: annotated heat maps, mean-and-spread bands, dots by group."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.image import AxesImage


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
