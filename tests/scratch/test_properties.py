"""Property tests: backward passes agree with autograd and finite differences for any shape."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchlab import scratch

FEW = settings(max_examples=12, deadline=None)
dims = st.integers(1, 5)
seeds = st.integers(0, 2**16)
scales = st.floats(0.1, 3.0)


def random(shape, seed, scale=1.0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator, dtype=torch.float64) * scale


def check(layer, x, y=None):
    layer.to(dtype=torch.float64)
    assert max(scratch.compare_to_autograd(layer, x, y)) < 1e-10
    assert scratch.finite_difference_check(layer, x, y, samples=10) < 1e-5


@FEW
@given(
    kind=st.sampled_from([scratch.ReLU, scratch.Sigmoid, scratch.TanH, scratch.LeakyReLU]),
    shape=st.lists(dims, min_size=1, max_size=4),
    seed=seeds,
    scale=scales,
)
def test_activations(kind, shape, seed, scale):
    check(kind(), random(shape, seed, scale))


@FEW
@given(n=dims, d_in=dims, d_out=dims, seed=seeds, scale=scales)
def test_linear(n, d_in, d_out, seed, scale):
    torch.manual_seed(seed)
    check(scratch.Linear(d_in, d_out, wstd=scale), random((n, d_in), seed))


@FEW
@given(
    n=st.integers(1, 3),
    c_in=st.integers(1, 3),
    c_out=st.integers(1, 3),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    padding=st.tuples(st.integers(0, 1), st.integers(0, 1)),
    size=st.tuples(st.integers(3, 6), st.integers(3, 6)),
    seed=seeds,
)
def test_conv2d(n, c_in, c_out, kernel, stride, padding, size, seed):
    torch.manual_seed(seed)
    layer = scratch.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding)
    check(layer, random((n, c_in, *size), seed))


@FEW
@given(
    pool=st.sampled_from([scratch.MaxPool2d, scratch.AvgPool2d]),
    kernel=st.integers(1, 3),
    stride=st.integers(1, 3),
    shape=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(3, 6), st.integers(3, 6)),
    seed=seeds,
)
def test_pools(pool, kernel, stride, shape, seed):
    check(pool(kernel, stride), random(shape, seed))


@FEW
@given(n=st.integers(2, 6), classes=st.integers(1, 6), seed=seeds, scale=st.floats(0.1, 30.0))
def test_losses(n, classes, seed, scale):
    x = random((n, classes), seed, scale)
    labels = torch.randint(0, classes, (n,), generator=torch.Generator().manual_seed(seed))
    check(scratch.CrossEntropyLoss(), x, labels)
    targets = torch.rand(
        (n, classes), generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )
    check(scratch.BCEWithLogitsLoss(), x, targets)
    check(scratch.BCELoss(), torch.sigmoid(x / scale), targets)


@FEW
@given(
    shape=st.sampled_from([(2, 3), (5, 1), (7, 4), (2, 3, 2, 2), (3, 2, 1, 3)]),
    training=st.booleans(),
    seed=seeds,
    scale=scales,
)
def test_batchnorm(shape, training, seed, scale):
    layer = scratch.BatchNorm(shape[1])
    layer.to(dtype=torch.float64)
    layer(random(shape, seed + 1, 2.0))  # running statistics away from (0, 1)
    layer.gamma.copy_(random(shape[1], seed + 2))
    check(layer.train(training), random(shape, seed, scale))


@FEW
@given(
    p=st.floats(0.0, 0.9),
    shape=st.lists(dims, min_size=1, max_size=3),
    seed=seeds,
    training=st.booleans(),
)
def test_dropout(p, shape, seed, training):
    check(scratch.Dropout(p).train(training), random(shape, seed))
