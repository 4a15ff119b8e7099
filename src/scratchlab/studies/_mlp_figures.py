"""Figures of the `mlp-architecture` study."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from scratchlab.classifiers import BinaryClassifier, confusion_matrix, select_roc_thresh
from scratchlab.studies.common import new_figure, split_tensors
from scratchlab.viz import plot_confusion_matrix, plot_decision_boundary_2d, plot_roc


def boundaries_figure(runs: list[Any], depths: tuple[int, ...], widths: tuple[int, ...],
                      points: int = 600) -> Figure:
    """Decision boundaries (threshold 0.5) of the first seed's models, over `points` test points."""
    fig, axes = new_figure(len(depths), len(widths), (3.0, 2.6))
    first_seed = min(r.config.seed for r in runs)
    by_cell = {(len(r.config.model.hidden_dims), r.config.model.hidden_dims[0]): r for r in runs
               if r.config.seed == first_seed}
    x, y = split_tensors(runs[0].config, "test")
    x, y = x[:: max(1, len(x) // points)], y[:: max(1, len(y) // points)]
    for (i, d), (j, w) in ((a, b) for a in enumerate(depths) for b in enumerate(widths)):
        ax = axes[i, j]
        plot_decision_boundary_2d(BinaryClassifier(by_cell[(d, w)].model), x, y, dx=0.05, ax=ax)
        ax.set_title(f"depth {d}, width {w}", fontsize=9)
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def accuracy_figure(table: pd.DataFrame) -> Figure:
    """Mean test accuracy per (depth, width), with the 0.5 threshold and with the selected one."""
    fig, axes = new_figure(1, 2, (4.5, 3.2))
    columns = (("test_acc", "threshold 0.5"), ("test_acc_thresh", "valid-selected threshold"))
    accuracies = table[["test_acc", "test_acc_thresh"]]
    low, high = accuracies.min().min(), accuracies.max().max()
    for ax, (column, title) in zip(axes[0], columns, strict=True):
        grid = table.groupby(["depth", "width"])[column].mean().unstack("width")
        image = ax.imshow(grid.to_numpy(), cmap="viridis", vmin=low, vmax=high)
        for (i, j), v in np.ndenumerate(grid.to_numpy()):
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=8,
                    color="white" if v < (low + high) / 2 else "black")
        ax.set_xticks(range(grid.shape[1]), grid.columns)
        ax.set_yticks(range(grid.shape[0]), grid.index)
        ax.set_xlabel("width")
        ax.set_ylabel("depth")
        ax.set_title(f"test accuracy (%), {title}", fontsize=9)
    fig.colorbar(image, ax=axes[0].tolist())
    return fig


def first_classifier_figure(run: Any) -> Figure:
    """ROC on valid with the selected threshold; test confusion matrices at 0.5 and at it."""
    classifier = BinaryClassifier(run.model).eval()
    valid, test = split_tensors(run.config, "valid"), split_tensors(run.config, "test")
    fig, axes = new_figure(1, 3, (4.2, 3.8))
    thresh = select_roc_thresh(classifier, *valid)
    with torch.no_grad():
        scores = classifier.predict_proba(valid[0])[:, 1].numpy()
    fpr, tpr, cuts = roc_curve(valid[1].numpy(), scores)
    point = int(np.argmin(np.abs(cuts - thresh)))
    plot_roc(fpr, tpr, thresh_point=(fpr[point], tpr[point]), ax=axes[0, 0])
    axes[0, 0].set_title(f"ROC on valid, threshold {thresh:.2f}", fontsize=9)
    for ax, t in zip(axes[0, 1:], (0.5, thresh), strict=True):
        classifier.threshold = t
        with torch.no_grad():
            cm = confusion_matrix(test[1], classifier.classify(test[0]), num_classes=2)
        plot_confusion_matrix(cm, ["0", "1"], ax=ax)
        ax.set_title(f"test, threshold {t:.2f}: FPR {100 * cm.fpr:.1f}%, FNR {100 * cm.fnr:.1f}%",
                     fontsize=8)
    return fig


def size_figure(table: pd.DataFrame, pairs: list[Any]) -> Figure:
    """Test accuracy (selected threshold) against parameter count; the equal-unit pairs joined."""
    fig, axes = new_figure(1, 1, (6, 4))
    ax = axes[0, 0]
    cells = table.groupby(["depth", "width"]).agg(
        params=("params", "mean"), acc=("test_acc_thresh", "mean"), std=("test_acc_thresh", "std"))
    for depth, part in cells.groupby(level="depth"):
        ax.errorbar(part.params, part.acc, yerr=part["std"].fillna(0), marker="o", capsize=3,
                    label=f"depth {depth}")
        for (_, w), r in part.iterrows():
            ax.annotate(f"w{w}", (r.params, r.acc), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
    for a, b in pairs:
        if a in cells.index and b in cells.index:
            ax.plot(*zip(*(cells.loc[k, ["params", "acc"]] for k in (a, b)), strict=True), "k:",
                    linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("parameters (log)")
    ax.set_ylabel("test accuracy (%), selected threshold")
    ax.legend(fontsize=8)
    ax.set_title("dotted: equal numbers of hidden units", fontsize=9)
    return fig


def make_figures(
        table: pd.DataFrame, runs: list[Any], settings: Any, pairs: list[Any]) -> dict[str, Figure]:
    """Every figure; `runs` hold each run's `config` and trained `model`."""
    return {
        "decision_boundaries": boundaries_figure(runs, settings.depths, settings.widths),
        "test_accuracy": accuracy_figure(table),
        "first_classifier": first_classifier_figure(runs[0]),
        "accuracy_vs_parameters": size_figure(table, pairs),
    }
