"""ROC curves: choosing a binary decision threshold, and drawing the curve."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from scratchlab.classifiers.classifier import Classifier
from scratchlab.errors import ConfigError, ShapeError
from scratchlab.models import eval_mode


def plot_roc(
    fpr: Any, tpr: Any, thresh_point: tuple[float, float] | None = None, ax: Any = None
) -> tuple[Any, Any]:
    """Draw a ROC curve (and, optionally, the chosen (fpr, tpr) point); returns (fig, ax)."""
    from matplotlib import pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 5))
    else:
        fig = ax.figure
    ax.plot(fpr, tpr, color="C0", label="ROC")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="chance")
    if thresh_point is not None:
        ax.plot(*thresh_point, "o", color="C3", label="chosen threshold")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(loc="lower right")
    return fig, ax


def select_roc_thresh(
    classifier: Classifier, x: torch.Tensor, y: Any, plot: bool = False, ax: Any = None
) -> float:
    """The threshold on P(positive class) whose ROC point is closest to (0, 1), in eval mode.

    Args:
        classifier: a classifier whose `predict_proba` gives two columns; the positive class is
            its `positive_class` (class 1 unless set).
        x: inputs.
        y: binary labels (0/1) of `x`; samples of the positive class are the positives.
        plot: also draw the ROC curve with the chosen point (on `ax`, else a new figure).
        ax: matplotlib axes to draw on.

    Returns:
        The threshold, a float (with or without `plot`, as in the course).
    """
    with eval_mode(classifier):
        proba = classifier.predict_proba(x)
    if proba.shape[1] != 2:
        raise ShapeError(f"ROC thresholds need a binary classifier, got {proba.shape[1]} classes")
    positive = int(getattr(classifier, "positive_class", 1))
    scores = proba[:, positive].detach().cpu().numpy()
    labels = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if set(np.unique(labels).tolist()) != {0, 1}:
        raise ConfigError("y: ROC thresholds need labels 0 and 1, both present; check the labels")
    from sklearn import metrics  # imported on first use: scikit-learn takes a while

    fpr, tpr, thresholds = metrics.roc_curve(labels == positive, scores)
    finite = np.isfinite(thresholds)  # sklearn puts +inf first
    distance = np.where(finite, fpr**2 + (1 - tpr) ** 2, np.inf)
    best = int(np.argmin(distance))
    if plot:
        plot_roc(fpr, tpr, thresh_point=(fpr[best], tpr[best]), ax=ax)
    return float(thresholds[best])
