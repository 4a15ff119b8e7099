"""Learning curves of one or several runs (the classic `plot_fit`)."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from scratchlab.training.results import FitResult


def plot_fit(
    fit_res: FitResult,
    fig: Figure | None = None,
    log_loss: bool = False,
    legend: str | None = None,
    train_test_overlay: bool = False,
) -> tuple[Figure, np.ndarray]:
    """Plot a FitResult: loss against iteration and accuracy against epoch.

    Args:
        fit_res: the run to draw.
        fig: an existing figure from an earlier call, to add this run to it; lines with the same
            `legend` label are replaced.
        log_loss: log scale for the loss axes.
        legend: label of this run's lines.
        train_test_overlay: one row (loss, accuracy) with train and test overlaid, instead of the
            2x2 grid (train/test x loss/accuracy).

    Returns:
        (fig, axes) with axes a flat array.
    """
    if fig is None:
        nrows = 1 if train_test_overlay else 2
        fig, grid = plt.subplots(nrows, 2, figsize=(16, 5 * nrows), squeeze=False)
        if nrows == 2:  # accuracies share their epochs; train and test count different batches
            grid[1, 1].sharex(grid[0, 1])
        axes = grid.reshape(-1)
    else:
        axes = np.array(fig.axes)
    for ax in axes:
        for line in list(ax.lines):
            if legend is not None and line.get_label() == legend:
                line.remove()
    for (i, phase), (j, metric) in itertools.product(
        enumerate(["train", "test"]), enumerate(["loss", "acc"])
    ):
        ax = axes[j if train_test_overlay else 2 * i + j]
        values = getattr(fit_res, f"{phase}_{metric}")
        label = phase if train_test_overlay else legend
        ax.plot(np.arange(1, len(values) + 1), values, label=label)
        ax.set_title(metric if train_test_overlay else f"{phase}_{metric}")
        if metric == "loss":
            ax.set_xlabel("Iteration #")
            ax.set_ylabel("Loss (log)" if log_loss else "Loss")
            if log_loss:
                ax.set_yscale("log")
        else:
            ax.set_xlabel("Epoch #")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel("Accuracy (%)")
        if legend or train_test_overlay:
            ax.legend()
        ax.grid(True)
    return fig, axes
