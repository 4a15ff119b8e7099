"""Forward passes equal their torch.nn.functional counterparts."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from scratchlab import scratch


@pytest.fixture
def x():
    torch.manual_seed(0)
    return torch.randn(100, 200, dtype=torch.float64) * 3


def test_linear(x):
    layer = scratch.Linear(200, 100).to(dtype=torch.float64)
    layer.b.normal_()
    assert torch.allclose(layer(x), F.linear(x, layer.w, layer.b))


def test_linear_init():
    torch.manual_seed(0)
    layer = scratch.Linear(400, 300, wstd=0.5)
    assert layer.w.shape == (300, 400) and torch.equal(layer.b, torch.zeros(300))
    assert layer.w.std().item() == pytest.approx(0.5, rel=0.02)


@pytest.mark.parametrize(
    ("layer", "reference"),
    [
        (scratch.ReLU(), F.relu),
        (scratch.LeakyReLU(0.2), lambda t: F.leaky_relu(t, 0.2)),
        (scratch.Sigmoid(), torch.sigmoid),
        (scratch.TanH(), torch.tanh),
    ],
    ids=["relu", "lrelu", "sigmoid", "tanh"],
)
def test_activations_any_rank(layer, reference, x):
    for t in (x[0], x, x.reshape(10, 10, 200), x.reshape(5, 4, 5, 200)):
        assert torch.allclose(layer(t), reference(t))


def test_cross_entropy(x):
    y = torch.randint(0, 200, (100,))
    assert torch.allclose(scratch.CrossEntropyLoss()(x, y), F.cross_entropy(x, y))
    big = x * 1000  # a naive exp would overflow
    loss = scratch.CrossEntropyLoss()(big, y)
    assert torch.isfinite(loss) and torch.allclose(loss, F.cross_entropy(big, y))


def test_bce_matches_torch_and_stays_finite_at_0_and_1():
    p = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.3, 1e-50], dtype=torch.float64)
    y = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    loss_fn = scratch.BCELoss()
    loss = loss_fn(p, y)
    assert torch.allclose(loss, F.binary_cross_entropy(p, y))
    dx = loss_fn.backward()
    assert torch.isfinite(loss) and torch.isfinite(dx).all()
    p_ref = p.clone().requires_grad_(True)
    F.binary_cross_entropy(p_ref, y).backward()
    inside = (p > 1e-40) & (p < 1)  # torch's backward clamps differently at the edges
    assert torch.allclose(dx[inside], p_ref.grad[inside])


def test_bce_with_logits(x):
    y = torch.rand(100, 200, dtype=torch.float64)
    logits = torch.cat([x, torch.full((1, 200), 500.0), torch.full((1, 200), -500.0)]).double()
    y = torch.cat([y, torch.zeros(2, 200)]).double()
    loss = scratch.BCEWithLogitsLoss()(logits, y)
    assert torch.allclose(loss, F.binary_cross_entropy_with_logits(logits, y))


@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (2, 1), ((2, 1), (0, 2))])
def test_conv2d(stride, padding):
    torch.manual_seed(0)
    layer = scratch.Conv2d(3, 5, (3, 2), stride=stride, padding=padding).to(dtype=torch.float64)
    layer.b.normal_()
    images = torch.randn(4, 3, 9, 8, dtype=torch.float64)
    expected = F.conv2d(images, layer.w, layer.b, stride=stride, padding=padding)
    assert torch.allclose(layer(images), expected)


def test_conv2d_default_init_is_he():
    torch.manual_seed(0)
    layer = scratch.Conv2d(16, 64, 5)
    assert layer.w.std().item() == pytest.approx((2 / (16 * 25)) ** 0.5, rel=0.05)


def test_max_pool_gradient_goes_where_torchs_goes_with_nans_infinities_and_ties():
    nan, inf = float("nan"), float("inf")
    windows = [[1.0, nan, nan, 2.0], [nan, 5.0, 3.0, nan], [-inf, -inf, -inf, -inf],
               [-inf, -1.0, -inf, -2.0], [2.0, 2.0, 2.0, 1.0], [nan, nan, nan, nan]]
    images = torch.tensor(windows, dtype=torch.float64).view(len(windows), 1, 2, 2)
    ours = scratch.MaxPool2d(2)
    out = ours.forward(images)
    theirs = images.clone().requires_grad_(True)
    expected = F.max_pool2d(theirs, 2)
    expected.backward(torch.ones_like(expected))
    assert torch.equal(out.isnan(), expected.isnan())
    assert torch.equal(out.nan_to_num(), expected.detach().nan_to_num())
    assert torch.equal(ours.backward(torch.ones_like(out)), theirs.grad)


@pytest.mark.parametrize(("kernel", "stride"), [(2, None), (3, 2), (3, 1), ((2, 3), (1, 2))])
def test_pools(kernel, stride):
    images = torch.randn(4, 3, 9, 8, dtype=torch.float64)
    assert torch.equal(
        scratch.MaxPool2d(kernel, stride)(images), F.max_pool2d(images, kernel, stride)
    )
    assert torch.allclose(
        scratch.AvgPool2d(kernel, stride)(images), F.avg_pool2d(images, kernel, stride)
    )


@pytest.mark.parametrize("shape", [(20, 6), (8, 6, 5, 4)])
def test_batchnorm_matches_torch_in_train_and_eval(shape):
    torch.manual_seed(0)
    ours = scratch.BatchNorm(6).to(dtype=torch.float64)
    ref = (torch.nn.BatchNorm1d(6) if len(shape) == 2 else torch.nn.BatchNorm2d(6)).double()
    with torch.no_grad():
        ref.weight.uniform_(0.5, 2)
        ref.bias.normal_()
    ours.gamma.copy_(ref.weight.detach())
    ours.beta.copy_(ref.bias.detach())
    for _ in range(3):
        batch = torch.randn(shape, dtype=torch.float64) * 3 + 2
        assert torch.allclose(ours(batch), ref(batch).detach())
    assert torch.allclose(ours.running_mean, ref.running_mean)
    assert torch.allclose(ours.running_var, ref.running_var)
    ours.eval()
    ref.eval()
    assert torch.allclose(ours(batch), ref(batch).detach())


def test_dropout_train_eval_and_seed():
    x = torch.ones(200, 500)
    layer = scratch.Dropout(0.6)
    torch.manual_seed(1)
    out = layer(x)
    assert set(out.unique().tolist()) == {0.0, 1 / 0.4}
    assert (out == 0).float().mean().item() == pytest.approx(0.6, abs=0.01)
    torch.manual_seed(1)
    assert torch.equal(layer(x), out)
    assert torch.equal(layer.eval()(x), x)
    assert torch.equal(scratch.Dropout(0.0)(x), x)


def test_flatten():
    images = torch.randn(4, 3, 2, 5)
    layer = scratch.Flatten()
    assert torch.equal(layer(images), images.reshape(4, 30))
    assert layer.backward(torch.ones(4, 30)).shape == images.shape
