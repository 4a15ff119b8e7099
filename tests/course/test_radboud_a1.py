"""Items 11-13: the Radboud A1 seed's functional network, its `make_layer` and its digits.

The seed builds a network as a list of `make_layer(d0, d1, activation)` triples and runs it with
`network(x, params)`; its digits are normalised with one mean and one std over all pixel values.
"""

from __future__ import annotations

import torch

from scratchlab.data import get_dataset
from scratchlab.scratch.functional import (
    he_init,
    make_layer,
    network,
    network_backward,
    relu,
    sigmoid,
)


def test_network_with_one_output_unit_returns_shape_n():
    torch.manual_seed(0)
    params = [make_layer(64, 32, relu), make_layer(32, 1, sigmoid)]
    x = torch.randn(10, 64, dtype=torch.float64)
    p = network(x, params)
    assert p.shape == (10,)
    assert ((p > 0) & (p < 1)).all()
    assert network(x, [make_layer(64, 3, sigmoid)]).shape == (10, 3)


def test_backward_of_the_one_unit_network_takes_its_shape():
    torch.manual_seed(0)
    params = [make_layer(6, 4, relu), make_layer(4, 1, sigmoid)]
    x = torch.randn(5, 6, dtype=torch.float64)
    dout = torch.randn(5, dtype=torch.float64)
    leaves = [(w.clone().requires_grad_(), b.clone().requires_grad_(), a) for w, b, a in params]
    (network(x, leaves) * dout).sum().backward()
    _, grads = network_backward(x, params, dout)
    for (w, b, _), (dw, db) in zip(leaves, grads, strict=True):
        torch.testing.assert_close(dw, w.grad)
        torch.testing.assert_close(db, b.grad)


def test_make_layer_is_the_seeds():
    w, b, activation = make_layer(100000, 2, sigmoid)
    assert activation is sigmoid
    assert w.shape == (100000, 2) and b.shape == (2,)
    assert w.dtype == b.dtype == torch.float64
    assert torch.count_nonzero(b) == 0
    assert abs(torch.std(w) - 1) < 1e-2  # the seed's own check
    assert abs(w.mean()) < 1e-2


def test_make_layer_scale_comes_from_d1_unlike_he_init():
    torch.manual_seed(0)
    w, _, _ = make_layer(100, 8, relu)
    he, _ = he_init(100, 8)
    epsilon = (2 / 8) ** 0.5  # the seed: epsilon = sqrt(2 / d1), std = epsilon ** 2
    assert abs(w.std() - epsilon**2) < 0.03
    assert abs(he.std() - (2 / 100) ** 0.5) < 0.03


def test_digits_with_the_seeds_global_normalisation():
    train = get_dataset("digits", "train", task="binary", flatten=True, normalize="global")
    assert round(float(train.x.min()), 4) == -0.8118
    assert round(float(train.x.max()), 4) == 1.8475
    per_feature = get_dataset("digits", "train", task="binary", flatten=True)
    assert per_feature.x.max() > 10  # the default stays per feature
    assert torch.equal(train.y, per_feature.y)
