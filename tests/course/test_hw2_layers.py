"""Item 1: hw2's layer tests call every layer as `layer(x, y=y)` (y None but for a loss).

`import scratchlab.scratch as layers` stands for the course's `import hw2.layers as layers`.
"""

from __future__ import annotations

import pytest
import torch

import scratchlab.scratch as layers
from scratchlab.scratch import compare_layer_to_torch

N, IN_FEATURES, NUM_CLASSES = 100, 200, 10
DELTA = 1e-3  # the course's tolerance on each diff


def course_style_diffs(layer: layers.Layer, x: torch.Tensor, y=None, seed: int = 42):
    """What the course's compare helper does: one forward as `layer(x, y=y)` and the hand-written
    backward, then autograd through a second, identically seeded forward of the same call."""
    torch.manual_seed(seed)
    out = layer(x, y=y)
    dout = torch.randn(*out.shape) if out.dim() > 0 else torch.tensor(1.0)
    dx = layer.backward(dout)
    for tensor in [p for p, _ in layer.params()] + [x]:
        tensor.requires_grad = True
    torch.manual_seed(seed)
    layer(x, y=y).backward(dout)
    return [torch.norm(x.grad - dx)] + [torch.norm(p.grad - g) for p, g in layer.params()]


def make_layers():
    return {
        "lrelu": (layers.LeakyReLU(alpha=0.1), False),
        "relu": (layers.ReLU(), False),
        "sigmoid": (layers.Sigmoid(), False),
        "tanh": (layers.TanH(), False),
        "linear": (layers.Linear(IN_FEATURES, 1000, wstd=0.02), False),
        "dropout": (layers.Dropout(p=0.6), False),
        "cross_entropy": (layers.CrossEntropyLoss(), True),
        "sequential": (
            layers.Sequential(
                layers.Linear(IN_FEATURES, 100),
                layers.ReLU(),
                layers.Linear(100, NUM_CLASSES),
                layers.CrossEntropyLoss(),
            ),
            True,
        ),
        "mlp": (
            layers.MLP(
                IN_FEATURES,
                NUM_CLASSES,
                hidden_features=[100, 50, 100],
                activation="lrelu",
                dropout=0.6,
            ),
            False,
        ),
    }


@pytest.mark.parametrize("name", list(make_layers()))
def test_every_layer_takes_y_and_matches_autograd(name):
    torch.manual_seed(0)
    layer, uses_y = make_layers()[name]
    x = torch.randn(N, IN_FEATURES)
    if name == "cross_entropy":
        x = torch.randn(N, NUM_CLASSES)
    y = torch.randint(0, NUM_CLASSES, (N,)) if uses_y else None
    diffs = course_style_diffs(layer, x, y)
    assert len(diffs) == 1 + len(layer.params())
    assert all(d < DELTA for d in diffs), diffs


def test_y_none_changes_nothing_and_other_unused_keywords_are_ignored():
    torch.manual_seed(0)
    x = torch.randn(8, 5)
    for layer in (layers.Linear(5, 3), layers.LeakyReLU(0.2), layers.Sigmoid()):
        assert torch.equal(layer(x, y=None), layer(x))
        assert torch.equal(layer(x, y=None, anything="else"), layer(x))


def test_course_name_of_the_compare_helper():
    torch.manual_seed(0)
    mlp = layers.MLP(IN_FEATURES, NUM_CLASSES, hidden_features=[30], activation="relu")
    diffs = compare_layer_to_torch(mlp, torch.randn(N, IN_FEATURES))
    assert len(diffs) == 1 + len(mlp.params()) and all(d < DELTA for d in diffs)


def test_a_broken_backward_is_caught_by_the_course_check():
    class HalfGradReLU(layers.ReLU):
        def backward(self, dout):
            return super().backward(dout) / 2

    x = torch.randn(N, IN_FEATURES)
    assert course_style_diffs(HalfGradReLU(), x)[0] > DELTA
