"""Plots and the HTML report."""

from scratchlab.viz.classification import (
    plot_confusion_matrix,
    plot_decision_boundary_2d,
    plot_kernels,
    plot_roc,
)
from scratchlab.viz.experiments import plot_exp_results
from scratchlab.viz.fit import plot_fit
from scratchlab.viz.report import HtmlReport, figure_to_png

__all__ = [
    "HtmlReport",
    "figure_to_png",
    "plot_confusion_matrix",
    "plot_decision_boundary_2d",
    "plot_exp_results",
    "plot_fit",
    "plot_kernels",
    "plot_roc",
]
