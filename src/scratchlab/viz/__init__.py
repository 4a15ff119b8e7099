"""Plots and the HTML report."""

from scratchlab.viz.classification import (
    plot_confusion_matrix,
    plot_decision_boundary_2d,
    plot_kernels,
    plot_roc,
)
from scratchlab.viz.classifier_figures import decision_boundary_grid, threshold_figure
from scratchlab.viz.experiments import plot_exp_results
from scratchlab.viz.fit import plot_fit
from scratchlab.viz.report import HtmlReport, figure_to_png
from scratchlab.viz.study_plots import (
    annotated_heatmap,
    dots_by_group,
    epoch_curves,
    figure_and_axes,
    kernel_row,
    mean_band,
    panel_row,
    seed_bars,
)

__all__ = [
    "HtmlReport",
    "annotated_heatmap",
    "decision_boundary_grid",
    "dots_by_group",
    "epoch_curves",
    "figure_and_axes",
    "figure_to_png",
    "kernel_row",
    "mean_band",
    "panel_row",
    "plot_confusion_matrix",
    "plot_decision_boundary_2d",
    "plot_exp_results",
    "plot_fit",
    "plot_kernels",
    "plot_roc",
    "seed_bars",
    "threshold_figure",
]
