"""Classifier plots render to PNG files that decode, and draw what they are given."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch
from matplotlib import pyplot as plt
from torch import nn
from torchvision.utils import make_grid

from scratchlab.classifiers import BinaryClassifier, confusion_matrix
from scratchlab.errors import ConfigError, ShapeError
from scratchlab.viz.classification import (
    plot_confusion_matrix,
    plot_decision_boundary_2d,
    plot_kernels,
    plot_roc,
)

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def save_and_decode(fig, path):
    fig.savefig(path)
    assert path.is_file()
    image = plt.imread(path)
    assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50
    return image


def test_decision_boundary_of_binary_classifier(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(200, 2)
    y = (x[:, 0] + x[:, 1] > 0).long()
    model = nn.Linear(2, 1)
    with torch.no_grad():  # the boundary x1 + x2 = 0
        model.weight.fill_(5.0)
        model.bias.zero_()
    clf = BinaryClassifier(model)
    fig, ax = plot_decision_boundary_2d(clf, x, y, dx=0.05)
    save_and_decode(fig, tmp_path / "boundary.png")
    filled = ax.collections[0]  # the contour of predicted labels
    assert filled.levels.tolist() == [-0.5, 0.5, 1.5]
    lo, hi = x.min(0).values, x.max(0).values
    x0, x1 = ax.get_xlim()
    assert x0 <= lo[0].item() and x1 >= hi[0].item()


def test_decision_boundary_errors():
    clf = BinaryClassifier(nn.Linear(3, 1))
    with pytest.raises(ShapeError):
        plot_decision_boundary_2d(clf, torch.randn(5, 3), torch.zeros(5))
    with pytest.raises(ConfigError, match="dx"):
        plot_decision_boundary_2d(BinaryClassifier(nn.Linear(2, 1)), torch.randn(5, 2) * 1e3,
                                  torch.zeros(5), dx=1e-3)  # fmt: skip


def test_confusion_matrix_plot(tmp_path):
    cm = confusion_matrix([0, 1, 2, 2, 1], [0, 2, 2, 2, 1])
    fig, ax = plot_confusion_matrix(cm, class_names=["a", "b", "c"])
    save_and_decode(fig, tmp_path / "cm.png")
    np.testing.assert_allclose(ax.images[0].get_array(), cm.rates)
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 9 and texts[4].startswith(str(cm.counts[1, 1]))
    _, ax2 = plot_confusion_matrix(cm.counts)
    np.testing.assert_allclose(ax2.images[0].get_array(), cm.rates)
    with pytest.raises(ConfigError):
        plot_confusion_matrix(cm, class_names=["a"])


def test_roc_plot_on_given_axes(tmp_path):
    fig, ax = plt.subplots()
    fpr, tpr = np.array([0, 0.1, 0.4, 1]), np.array([0, 0.6, 0.9, 1])
    fig2, ax2 = plot_roc(fpr, tpr, thresh_point=(0.1, 0.6), ax=ax)
    assert (fig2, ax2) == (fig, ax)
    np.testing.assert_allclose(ax.lines[0].get_xydata(), np.stack([fpr, tpr], 1))
    save_and_decode(fig, tmp_path / "roc.png")


@pytest.mark.parametrize("in_channels", [1, 3, 4])
def test_kernels_grid(tmp_path, in_channels):
    conv = nn.Conv2d(in_channels, 6, 5)
    fig, ax = plot_kernels(conv)
    save_and_decode(fig, tmp_path / "kernels.png")
    images = conv.weight if in_channels == 3 else conv.weight.reshape(-1, 1, 5, 5)
    nrow = in_channels if in_channels == 4 else 3
    expected = make_grid(images.detach(), nrow=nrow, padding=1)
    assert ax.images[0].get_array().shape[:2] == tuple(expected.shape[1:])
    with pytest.raises(ShapeError):
        plot_kernels(torch.zeros(3, 5, 5))
