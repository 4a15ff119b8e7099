"""Classifiers: a model's scores turned into class probabilities and labels."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn

from scratchlab.errors import ConfigError, ShapeError


class Classifier(nn.Module, ABC):
    """Wraps a model that maps (N, ...) inputs to (N, C) scores.

    A model with one output (C = 1) is read as the logit of class 1: its probabilities are
    `[1 - sigmoid(z), sigmoid(z)]`. Otherwise the probabilities are the softmax over classes.

    Labels are int32 (`torch.int`), as in the course.

    Args:
        model: the scoring model.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scores (N, C) of the wrapped model."""
        scores = self.model(x)
        if scores.dim() != 2:
            raise ShapeError(
                f"{type(self).__name__} needs model scores of shape (N, C), got "
                f"{tuple(scores.shape)}; end the model with a Linear layer"
            )
        return scores

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities (N, C), with C = 2 for a one-output model."""
        return self.predict_proba_scores(self.forward(x))

    def predict_proba_scores(self, scores: torch.Tensor) -> torch.Tensor:
        """Class probabilities (N, C) from scores (N, C)."""
        if scores.shape[1] == 1:
            p = torch.sigmoid(scores)
            return torch.cat([1 - p, p], dim=1)
        return torch.softmax(scores, dim=1)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted labels (N,) as int32."""
        return self._classify(self.predict_proba(x))

    def classify_scores(self, scores: torch.Tensor) -> torch.Tensor:
        """Predicted labels (N,) as int32 from scores (N, C)."""
        return self._classify(self.predict_proba_scores(scores))

    @abstractmethod
    def _classify(self, y_proba: torch.Tensor) -> torch.Tensor:
        """Labels from probabilities."""


class BinaryClassifier(Classifier):
    """Label 1 when the probability of `positive_class` is at least `threshold`, else label 0.

    Args:
        model: the scoring model, with 1 or 2 outputs.
        positive_class: the class (0 or 1) whose probability is thresholded to give label 1.
        threshold: decision threshold on that probability, in [0, 1].
    """

    def __init__(self, model: nn.Module, positive_class: int = 1, threshold: float = 0.5) -> None:
        super().__init__(model)
        if positive_class not in (0, 1):
            raise ConfigError(f"positive_class: 0 or 1, got {positive_class!r}")
        self.positive_class = int(positive_class)
        self.threshold = _check_threshold(threshold)

    def _classify(self, y_proba: torch.Tensor) -> torch.Tensor:
        if y_proba.shape[1] != 2:
            raise ShapeError(
                f"BinaryClassifier needs a model with 1 or 2 outputs, got {y_proba.shape[1]}; "
                f"use ArgMaxClassifier for more classes"
            )
        return (y_proba[:, self.positive_class] >= self.threshold).int()


class ArgMaxClassifier(Classifier):
    """The class of highest probability."""

    def _classify(self, y_proba: torch.Tensor) -> torch.Tensor:
        return y_proba.argmax(dim=1).int()


def _check_threshold(threshold: float) -> float:
    if not 0.0 <= float(threshold) <= 1.0:
        raise ConfigError(f"threshold: a probability in [0, 1] is needed, got {threshold!r}")
    return float(threshold)
