"""Classifier, BinaryClassifier, ArgMaxClassifier: probabilities and labels."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from scratchlab.classifiers import ArgMaxClassifier, BinaryClassifier, Classifier
from scratchlab.errors import ConfigError, ShapeError


def test_softmax_probabilities_and_argmax_labels():
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    clf = ArgMaxClassifier(model)
    x = torch.randn(10, 4)
    scores = model(x)
    expected = scores.exp() / scores.exp().sum(1, keepdim=True)
    torch.testing.assert_close(clf(x), scores)
    torch.testing.assert_close(clf.predict_proba(x), expected)
    torch.testing.assert_close(clf.predict_proba_scores(scores), expected)
    assert torch.equal(clf.classify(x), scores.argmax(1).int())
    assert torch.equal(clf.classify_scores(scores), scores.argmax(1).int())


def test_one_logit_model_gives_two_columns():
    clf = BinaryClassifier(nn.Identity())
    z = torch.tensor([[-2.0], [0.0], [3.0]])
    p = 1 / (1 + torch.exp(-z))
    torch.testing.assert_close(clf.predict_proba(z), torch.cat([1 - p, p], dim=1))
    assert clf.classify(z).tolist() == [0, 1, 1]  # p >= 0.5 is class 1


@pytest.mark.parametrize("threshold", [0.1, 0.5, 0.9])
def test_binary_threshold(threshold):
    torch.manual_seed(1)
    clf = BinaryClassifier(nn.Linear(2, 2), threshold=threshold)
    x = torch.randn(50, 2)
    p1 = torch.softmax(clf.model(x), dim=1)[:, 1]
    assert torch.equal(clf.classify(x), (p1 >= threshold).int())


def test_errors():
    with pytest.raises(ConfigError, match="threshold"):
        BinaryClassifier(nn.Identity(), threshold=1.5)
    with pytest.raises(ShapeError, match="ArgMaxClassifier"):
        BinaryClassifier(nn.Linear(2, 3)).classify(torch.randn(4, 2))
    with pytest.raises(ShapeError, match=r"\(N, C\)"):
        ArgMaxClassifier(nn.Identity())(torch.randn(4))
    with pytest.raises(TypeError):
        Classifier(nn.Identity())  # abstract
