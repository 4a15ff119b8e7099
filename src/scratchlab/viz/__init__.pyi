"""Names of `scratchlab.viz`, for editors and type checkers (they load on first use)."""

from .classification import (
    plot_confusion_matrix,
    plot_decision_boundary_2d,
    plot_kernels,
    plot_roc,
)
from .classifier_figures import decision_boundary_grid, threshold_figure
from .experiments import plot_exp_results
from .fit import plot_fit
from .render import figure_to_png
from .report import HtmlReport
from .study_plots import (
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
