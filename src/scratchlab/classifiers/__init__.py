"""Classifiers over any scoring model: probabilities, labels, ROC thresholds, confusion matrices."""

from scratchlab.classifiers.classifier import ArgMaxClassifier, BinaryClassifier, Classifier
from scratchlab.classifiers.confusion import ConfusionMatrix, confusion_matrix
from scratchlab.classifiers.roc import plot_roc, select_roc_thresh

__all__ = [
    "ArgMaxClassifier",
    "BinaryClassifier",
    "Classifier",
    "ConfusionMatrix",
    "confusion_matrix",
    "plot_roc",
    "select_roc_thresh",
]
