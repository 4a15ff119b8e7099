"""Whole figures about classifiers: a grid of 2-D decision boundaries, ROC threshold selection."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from scratchlab.classifiers import BinaryClassifier, Classifier, confusion_matrix, select_roc_thresh
from scratchlab.viz.classification import plot_confusion_matrix, plot_decision_boundary_2d


def decision_boundary_grid(panels: Sequence[Sequence[tuple[str, Classifier]]], x: Any, y: Any,
                           dx: float = 0.05, size: tuple[float, float] = (3.0, 2.6)) -> Figure:
    """Rows of (title, classifier) panels, each its decision boundary over the points (x, y)."""
    rows, cols = len(panels), len(panels[0])
    fig, axes = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows), squeeze=False)
    for ax, (title, classifier) in zip(axes.flat, itertools.chain(*panels), strict=True):
        plot_decision_boundary_2d(classifier, x, y, dx=dx, ax=ax)
        ax.set_title(title, fontsize=9)
        ax.set(xlabel="", ylabel="")
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def threshold_figure(classifier: BinaryClassifier, valid: tuple[torch.Tensor, torch.Tensor],
                     test: tuple[torch.Tensor, torch.Tensor]) -> Figure:
    """ROC on `valid` with the threshold it selects (`select_roc_thresh`), then the confusion
    matrices on `test` at 0.5 and at that threshold (which the classifier keeps)."""
    fig, axes = plt.subplots(1, 3, figsize=(3 * 4.2, 3.8), squeeze=False)
    thresh = select_roc_thresh(classifier, *valid, plot=True, ax=axes[0, 0])
    axes[0, 0].set_title(f"ROC on valid, threshold {thresh:.2f}", fontsize=9)
    for ax, t in zip(axes[0, 1:], (0.5, thresh), strict=True):
        classifier.threshold = t
        with torch.no_grad():
            cm = confusion_matrix(test[1], classifier.classify(test[0]), num_classes=2)
        plot_confusion_matrix(cm, ["0", "1"], ax=ax)
        ax.set_title(f"test, threshold {t:.2f}: FPR {100 * cm.fpr:.1f}%, FNR {100 * cm.fnr:.1f}%",
                     fontsize=8)
    return fig
