"""Confusion matrices (sklearn.metrics) with row-normalised rates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scratchlab.errors import ConfigError, ShapeError


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts[i, j]: samples of true class i predicted as class j."""

    counts: np.ndarray

    @property
    def num_classes(self) -> int:
        """Number of classes (rows)."""
        return self.counts.shape[0]

    @property
    def rates(self) -> np.ndarray:
        """Counts divided by their row sums (rows without samples stay 0)."""
        totals = self.counts.sum(axis=1, keepdims=True)
        return np.divide(self.counts, totals, out=np.zeros(self.counts.shape), where=totals > 0)

    @property
    def fpr(self) -> float:
        """False positive rate of a binary problem: FP / (FP + TN)."""
        return float(self._binary_rates()[0, 1])

    @property
    def fnr(self) -> float:
        """False negative rate of a binary problem: FN / (FN + TP)."""
        return float(self._binary_rates()[1, 0])

    @property
    def accuracy(self) -> float:
        """Fraction of samples on the diagonal."""
        total = self.counts.sum()
        return float(np.trace(self.counts) / total) if total else 0.0

    def _binary_rates(self) -> np.ndarray:
        if self.num_classes != 2:
            raise ConfigError(
                f"fpr/fnr are defined for 2 classes, this matrix has {self.num_classes}; "
                f"read .rates instead"
            )
        return self.rates


def _as_labels(name: str, values: Any) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.ndim != 1:
        raise ShapeError(f"{name}: expected a 1-D array of labels, got shape {array.shape}")
    return array.astype(np.int64)


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int | None = None) -> ConfusionMatrix:
    """The confusion matrix of integer labels (arrays or tensors) over classes 0..num_classes-1.

    `num_classes` defaults to one more than the largest label seen.
    """
    y_true, y_pred = _as_labels("y_true", y_true), _as_labels("y_pred", y_pred)
    if y_true.shape != y_pred.shape:
        raise ShapeError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}")
    if num_classes is None:
        num_classes = int(max(y_true.max(initial=0), y_pred.max(initial=0))) + 1
    outside = np.concatenate([y_true, y_pred])
    outside = outside[(outside < 0) | (outside >= num_classes)]
    if outside.size:
        raise ConfigError(
            f"labels {sorted(set(outside.tolist()))} are outside 0..{num_classes - 1}; "
            f"pass a larger num_classes"
        )
    from sklearn import metrics  # imported on first use: scikit-learn takes a while

    counts = metrics.confusion_matrix(y_true, y_pred, labels=np.arange(num_classes))
    return ConfusionMatrix(counts)
