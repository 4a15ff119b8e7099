"""Overlaid learning curves of several runs (the classic `plot_exp_results`)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from scratchlab.training.results import FitResult
from scratchlab.viz.fit import plot_fit


def plot_exp_results(
    results: Mapping[str, FitResult], log_loss: bool = True, fig: Figure | None = None
) -> tuple[Figure, np.ndarray]:
    """Draw every run's FitResult on one 2x2 grid, labelled by its key (e.g. `L2_K32`)."""
    axes = None
    for label, fit in results.items():
        fig, axes = plot_fit(fit, fig=fig, legend=label, log_loss=log_loss)
    if fig is None:
        fig, axes = plot_fit(FitResult(0), log_loss=False)
    return fig, axes
