"""Items 6-9: hw2's MLP and classifiers as the course's notebook and tests call them.

`hw2.mlp.MLP` -> `scratchlab.models.MLP`; `hw2.classifier.*` -> `scratchlab.classifiers.*`.
"""

from __future__ import annotations

import pytest
import torch
from matplotlib import pyplot as plt
from torch import nn

from scratchlab.classifiers import ArgMaxClassifier, BinaryClassifier, select_roc_thresh
from scratchlab.models import MLP

N = 64


@pytest.mark.parametrize("last", ["softmax", "logsoftmax"])
def test_mlp_takes_the_courses_output_nonlinearities(last):
    torch.manual_seed(0)
    mlp = MLP(in_dim=2, dims=[8, 8, 3], nonlins=["relu", "tanh", last])
    out = mlp(torch.randn(N, 2))
    probs = out if last == "softmax" else out.exp()
    assert out.shape == (N, 3) and mlp.in_dim == 2 and mlp.out_dim == 3
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(N))
    assert (probs > 0).all()


def test_mlp_takes_every_course_activation_name_and_modules():
    nonlins = ["relu", "tanh", "sigmoid", "lrelu", "none", None, nn.ELU()]
    mlp = MLP(in_dim=5, dims=[4] * len(nonlins), nonlins=nonlins)
    assert mlp(torch.randn(N, 5)).shape == (N, 4)
    assert any(isinstance(m, nn.ELU) for m in mlp.modules())


def binary_data():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (N,), generator=g)
    x = torch.randn(N, 2, generator=g) + 1.5 * y[:, None]
    return x, y


def test_classify_returns_int32_labels():
    x, _ = binary_data()
    model = MLP(in_dim=2, dims=[8, 2], nonlins=["relu", "none"])
    for classifier in (BinaryClassifier(model), ArgMaxClassifier(model)):
        assert classifier.classify(x).dtype == torch.int
        assert classifier.classify_scores(model(x)).dtype == torch.int


def test_binary_classifier_signature_and_positive_class():
    x, _ = binary_data()
    model = nn.Linear(2, 2)
    p = torch.softmax(model(x), dim=1).detach()
    one = BinaryClassifier(model, positive_class=1, threshold=0.3)
    zero = BinaryClassifier(model, 0, 0.6)
    assert torch.equal(one.classify(x), (p[:, 1] >= 0.3).int())
    assert torch.equal(zero.classify(x), (p[:, 0] >= 0.6).int())
    assert (zero.positive_class, zero.threshold) == (0, 0.6)


def test_select_roc_thresh_with_plot_returns_the_threshold_and_draws():
    x, y = binary_data()
    classifier = BinaryClassifier(nn.Linear(2, 2), positive_class=1, threshold=0.5)
    plt.close("all")
    thresh = select_roc_thresh(classifier, x, y, plot=True)
    assert isinstance(thresh, float) and 0 <= thresh <= 1
    assert plt.get_fignums() and plt.gcf().axes[0].lines
    classifier.threshold = thresh
    assert classifier.classify(x).shape == (N,)
