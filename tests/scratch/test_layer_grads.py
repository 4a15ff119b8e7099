"""Every layer's backward against autograd (float32 and float64) and finite differences."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch

from scratchlab import scratch
from scratchlab.scratch import Layer


@dataclass
class Case:
    """A layer and how to make its input (and target, for a loss) at a given scale."""

    make: Callable[[], Layer]
    x: Callable[[bool], torch.Tensor]  # big=True: the classic shapes; False: small for FD
    y: Callable[[torch.Tensor], torch.Tensor] | None = None
    exact: bool = False  # float32 backward equals autograd bit for bit


def normal(big_shape, small_shape):
    return lambda big: torch.randn(big_shape if big else small_shape)


def trained_batchnorm(shape, eval_mode: bool) -> Callable[[], Layer]:
    def make():
        layer = scratch.BatchNorm(shape[1])
        for _ in range(3):
            layer(torch.randn(shape) * 2 + 1)
        layer.gamma.uniform_(0.5, 1.5)
        layer.beta.normal_()
        return layer.train(not eval_mode)

    return make


def labels(classes: int | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
    """Random class labels; by default one class per input feature."""
    return lambda x: torch.randint(0, classes or x.shape[1], (x.shape[0],))


CLASSIC = normal((100, 200), (10, 20))
CLASSIC_3D = normal((100, 200, 200), (4, 10, 10))
IMAGES = normal((8, 3, 9, 9), (3, 3, 9, 9))


CASES: dict[str, Case] = {
    "linear": Case(lambda: scratch.Linear(200, 100), normal((100, 200), (10, 200))),
    "relu": Case(scratch.ReLU, CLASSIC_3D, exact=True),
    "lrelu": Case(lambda: scratch.LeakyReLU(0.1), CLASSIC_3D, exact=True),
    "sigmoid": Case(scratch.Sigmoid, CLASSIC_3D, exact=True),
    "tanh": Case(scratch.TanH, CLASSIC_3D),
    "relu_2d": Case(scratch.ReLU, CLASSIC, exact=True),
    "dropout_train": Case(lambda: scratch.Dropout(0.6), CLASSIC, exact=True),
    "dropout_eval": Case(lambda: scratch.Dropout(0.6).eval(), CLASSIC, exact=True),
    "cross_entropy": Case(scratch.CrossEntropyLoss, CLASSIC, labels()),
    "bce": Case(
        scratch.BCELoss,
        lambda big: torch.rand((100, 200) if big else (10, 20)) * 0.98 + 0.01,
        lambda x: torch.randint(0, 2, x.shape).float(),
    ),
    "bce_logits": Case(scratch.BCEWithLogitsLoss, CLASSIC, lambda x: torch.rand(x.shape)),
    "conv": Case(lambda: scratch.Conv2d(3, 4, 3), IMAGES),
    "conv_stride_pad": Case(lambda: scratch.Conv2d(3, 4, 3, stride=2, padding=1), IMAGES),
    "conv_rect": Case(lambda: scratch.Conv2d(3, 2, (3, 2), stride=(2, 1), padding=(1, 0)), IMAGES),
    "maxpool": Case(lambda: scratch.MaxPool2d(2), normal((8, 3, 8, 8), (2, 3, 8, 8)), exact=True),
    "maxpool_overlap": Case(lambda: scratch.MaxPool2d(3, stride=2), IMAGES, exact=True),
    "avgpool": Case(lambda: scratch.AvgPool2d(2), normal((8, 3, 8, 8), (2, 3, 8, 8))),
    "avgpool_overlap": Case(lambda: scratch.AvgPool2d(3, stride=2), IMAGES),
    "flatten": Case(scratch.Flatten, IMAGES, exact=True),
    "batchnorm_train": Case(trained_batchnorm((100, 200), False), normal((100, 200), (10, 200))),
    "batchnorm_eval": Case(trained_batchnorm((100, 200), True), normal((100, 200), (10, 200))),
    "batchnorm2d_train": Case(trained_batchnorm((8, 3, 5, 5), False), IMAGES),
    "batchnorm2d_eval": Case(trained_batchnorm((8, 3, 5, 5), True), IMAGES),
    "sequential_12": Case(
        lambda: scratch.Sequential(
            *[
                layer
                for act in (scratch.ReLU, scratch.LeakyReLU, scratch.Sigmoid, scratch.TanH)
                for layer in (scratch.Linear(100, 100, wstd=0.1), act())
            ],
            scratch.Linear(100, 100, wstd=0.1),
            scratch.Dropout(0.3),
            scratch.Linear(100, 100, wstd=0.1),
            scratch.TanH(),
        ),
        normal((100, 100), (5, 100)),
    ),
    "sequential_12_linear": Case(
        lambda: scratch.Sequential(*[scratch.Linear(20, 20, wstd=0.3) for _ in range(12)]),
        normal((100, 20), (5, 20)),
    ),
    "mlp_dropout": Case(
        lambda: scratch.MLP(200, 10, [64, 32], dropout=0.3), normal((100, 200), (5, 200))
    ),
    "small_cnn": Case(
        lambda: scratch.Sequential(
            scratch.Conv2d(3, 4, 3, padding=1),
            scratch.BatchNorm(4),
            scratch.ReLU(),
            scratch.MaxPool2d(2),
            scratch.Flatten(),
            scratch.Linear(64, 5),
            scratch.CrossEntropyLoss(),
        ),
        normal((8, 3, 8, 8), (4, 3, 8, 8)),
        labels(5),
    ),
}
for _act in scratch.ACTIVATIONS:
    CASES[f"mlp_{_act}_ce"] = Case(
        lambda act=_act: scratch.Sequential(
            scratch.MLP(20, 10, [30, 30, 30], activation=act), scratch.CrossEntropyLoss()
        ),
        normal((100, 20), (8, 20)),
        labels(10),
    )


def build(name: str, big: bool, dtype=torch.float32):
    torch.manual_seed(0)
    case = CASES[name]
    layer = case.make()
    x = case.x(big)
    y = case.y(x) if case.y else None
    if dtype == torch.float64:
        layer.to(dtype=dtype)
        x = x.double()
        y = y.double() if y is not None and y.is_floating_point() else y
    return layer, x, y


@pytest.mark.parametrize("name", CASES)
def test_float32_matches_autograd(name):
    layer, x, y = build(name, big=True)
    diffs = scratch.compare_to_autograd(layer, x, y)
    assert len(diffs) == 1 + len(layer.params())
    assert max(diffs) < 1e-3, diffs
    if CASES[name].exact:
        assert max(diffs) == 0.0, diffs


@pytest.mark.parametrize("name", CASES)
def test_float64_matches_autograd(name):
    layer, x, y = build(name, big=True, dtype=torch.float64)
    assert max(scratch.compare_to_autograd(layer, x, y)) < 1e-10


@pytest.mark.parametrize("name", CASES)
def test_finite_differences(name):
    layer, x, y = build(name, big=False)
    assert scratch.finite_difference_check(layer, x, y) < 1e-5


@pytest.mark.parametrize("name", ["linear", "dropout_train", "batchnorm_train", "mlp_dropout"])
def test_finite_difference_check_leaves_caller_alone(name):
    layer, x, y = build(name, big=False)
    before = copy.deepcopy(layer.state_dict())
    x_before = x.clone()
    rng = torch.get_rng_state()
    scratch.finite_difference_check(layer, x, y)
    assert all(torch.equal(before[k], v) for k, v in layer.state_dict().items())
    assert all(p.dtype == torch.float32 for p, _ in layer.params())
    assert torch.equal(x, x_before)
    assert torch.equal(torch.get_rng_state(), rng)
