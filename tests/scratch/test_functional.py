"""The functional network: forward equals explicit composition, backward equals autograd."""

from __future__ import annotations

import itertools

import pytest
import torch

from scratchlab import scratch
from scratchlab.errors import ConfigError
from scratchlab.scratch import functional as fn


def make_params(activations, sizes=(6, 5, 4, 3)):
    generator = torch.Generator().manual_seed(0)
    params = []
    for (d_in, d_out), act in zip(itertools.pairwise(sizes), activations, strict=True):
        w, b = scratch.he_init(d_in, d_out, generator=generator)
        params.append((w.double(), (b + torch.randn(d_out, generator=generator)).double(), act))
    return params


def test_network_is_the_composition():
    params = make_params([fn.relu, "tanh", None])
    x = torch.randn(7, 6, dtype=torch.float64)
    (w1, b1, _), (w2, b2, _), (w3, b3, _) = params
    expected = torch.tanh(torch.relu(x @ w1 + b1) @ w2 + b2) @ w3 + b3
    assert torch.allclose(scratch.network(x, params), expected)


def test_network_accepts_any_callable():
    params = make_params([torch.nn.functional.softplus, "sigmoid", "identity"])
    x = torch.randn(2, 6, dtype=torch.float64)
    assert scratch.network(x, params).shape == (2, 3)


@pytest.mark.parametrize("activations", [["relu", "sigmoid", None], ["lrelu", fn.tanh, "identity"]])
def test_network_backward_equals_autograd(activations):
    params = make_params(activations)
    x = torch.randn(7, 6, dtype=torch.float64, requires_grad=True)
    leaves = [(w.requires_grad_(True), b.requires_grad_(True), act) for w, b, act in params]
    dout = torch.randn(7, 3, dtype=torch.float64)
    scratch.network(x, leaves).backward(dout)
    with torch.no_grad():
        dx, grads = scratch.network_backward(x, params, dout)
    assert torch.allclose(dx, x.grad)
    for (dw, db), (w, b, _) in zip(grads, leaves, strict=True):
        assert torch.allclose(dw, w.grad) and torch.allclose(db, b.grad)


def test_he_init():
    w, b = scratch.he_init(500, 400, generator=torch.Generator().manual_seed(0))
    assert w.shape == (500, 400) and torch.equal(b, torch.zeros(400))
    assert w.std().item() == pytest.approx((2 / 500) ** 0.5, rel=0.02)
    again, _ = scratch.he_init(500, 400, generator=torch.Generator().manual_seed(0))
    assert torch.equal(w, again)


def test_unknown_or_custom_activation_errors():
    x = torch.randn(2, 6)
    with pytest.raises(ConfigError, match="relu"):
        scratch.network(x, [(torch.zeros(6, 2), torch.zeros(2), "gelu")])
    with pytest.raises(ConfigError):
        scratch.network_backward(
            x, [(torch.zeros(6, 2), torch.zeros(2), torch.exp)], torch.ones(2, 2)
        )
