"""select_roc_thresh against the analytic optimum of two Gaussian score distributions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from scipy import optimize, stats
from torch import nn

from scratchlab.classifiers import BinaryClassifier, select_roc_thresh
from scratchlab.errors import ConfigError

NEG, POS = (0.0, 1.0), (2.5, 0.7)  # (mean, std) of the logit of each class


def analytic_threshold() -> float:
    """Logit threshold t minimising FPR(t)^2 + FNR(t)^2, mapped to a probability."""

    def distance(t: float) -> float:
        fpr = stats.norm.sf(t, *NEG)
        fnr = stats.norm.cdf(t, *POS)
        return fpr**2 + fnr**2

    t = optimize.minimize_scalar(distance, bounds=(NEG[0], POS[0]), method="bounded").x
    return float(1 / (1 + np.exp(-t)))


def sample(n: int = 20_000):
    gen = torch.Generator().manual_seed(0)
    neg = NEG[0] + NEG[1] * torch.randn(n, 1, generator=gen, dtype=torch.float64)
    pos = POS[0] + POS[1] * torch.randn(n, 1, generator=gen, dtype=torch.float64)
    return torch.cat([neg, pos]), torch.cat([torch.zeros(n), torch.ones(n)]).long()


def test_threshold_near_analytic_optimum():
    x, y = sample()
    clf = BinaryClassifier(nn.Identity())  # scores are the logits themselves
    thresh = select_roc_thresh(clf, x, y)
    assert isinstance(thresh, float)
    assert abs(thresh - analytic_threshold()) < 0.05


def test_plot_draws_and_still_returns_the_threshold():
    x, y = sample(500)
    plt.close("all")
    thresh = select_roc_thresh(BinaryClassifier(nn.Identity()), x, y.numpy(), plot=True)
    assert isinstance(thresh, float) and 0 < thresh < 1
    fig = plt.gcf()
    assert isinstance(fig, Figure) and fig.axes[0].lines
    assert thresh == select_roc_thresh(BinaryClassifier(nn.Identity()), x, y.numpy())
    plt.close(fig)


def test_one_class_is_an_error():
    x, y = sample(10)
    with pytest.raises(ConfigError, match="labels"):
        select_roc_thresh(BinaryClassifier(nn.Identity()), x, torch.zeros_like(y))


def test_scores_in_eval_mode_and_restores_training():
    x, y = sample(200)
    clf = BinaryClassifier(nn.Sequential(nn.Dropout(0.5), nn.Identity()))
    first, second = select_roc_thresh(clf, x, y), select_roc_thresh(clf, x, y)
    assert first == second and clf.training and clf.model[0].training
