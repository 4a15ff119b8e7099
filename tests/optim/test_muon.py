"""Muon: the Newton-Schulz orthogonalisation against the SVD, and the step against its rule."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch

from scratchlab import optim, scratch
from scratchlab.optim.muon import CUBIC, QUINTIC, newton_schulz, polar_factor

F64 = torch.float64
SHAPES = [(8, 8), (16, 64), (64, 16), (100, 30), (3, 200), (256, 256)]
BAND = (0.68, 1.21)  # where 5 quintic steps put every singular value >= 0.003 |G|_F


@pytest.mark.parametrize("shape", SHAPES)
def test_quintic_keeps_singular_vectors_and_puts_singular_values_in_its_band(shape):
    g = torch.randn(shape, dtype=F64, generator=torch.Generator().manual_seed(0))
    u, s, vh = torch.linalg.svd(g, full_matrices=False)
    out = newton_schulz(g, steps=5, coefficients=QUINTIC)
    assert out.shape == g.shape and out.dtype == g.dtype
    inner = u.T @ out @ vh.T  # diagonal when `out` shares the singular vectors of `g`
    off = inner - torch.diag(torch.diagonal(inner))
    assert off.abs().max() < 1e-9
    values = torch.diagonal(inner)
    reached = s >= 0.003 * g.norm()
    assert reached.sum() >= 1
    assert values[reached].min() >= BAND[0] and values[reached].max() <= BAND[1]
    if reached.all():  # then its spectral distance to U V^T is at most 0.32
        distance = torch.linalg.matrix_norm(out - polar_factor(g), ord=2)
        assert distance <= max(1 - BAND[0], BAND[1] - 1) + 1e-9


def test_one_step_is_not_enough_for_the_band():
    g = torch.randn(16, 64, dtype=F64, generator=torch.Generator().manual_seed(0))
    values = torch.linalg.svdvals(newton_schulz(g, steps=1))
    assert values.min() < BAND[0]


def test_cubic_iteration_converges_to_the_polar_factor():
    g = torch.randn(40, 20, dtype=F64, generator=torch.Generator().manual_seed(1))
    out = newton_schulz(g, steps=60, coefficients=CUBIC)
    assert torch.allclose(out, polar_factor(g), atol=1e-8)


def test_float32_on_a_conv_filter_bank_stays_in_the_band():
    g = torch.randn(32, 16 * 3 * 3, generator=torch.Generator().manual_seed(2))
    values = torch.linalg.svdvals(newton_schulz(g).double())
    assert values.min() >= BAND[0] - 1e-3 and values.max() <= BAND[1] + 1e-3


def rule(param, grads, lr, mu, nesterov, reg):
    """A direct transcription of the update, in numpy float64, for a list of gradients."""
    w, b = param.numpy().copy(), np.zeros_like(param.numpy())
    a, bb, c = QUINTIC
    for g in grads:
        g = g.numpy() + reg * w
        b = mu * b + (1 - mu) * g
        u = (1 - mu) * g + mu * b if nesterov else b
        if w.ndim < 2:
            w = w - lr * u
            continue
        x = u.reshape(w.shape[0], -1)
        x = x / (np.sqrt((x**2).sum()) + 1e-7)
        tall = x.shape[0] > x.shape[1]
        x = x.T if tall else x
        for _ in range(5):
            gram = x @ x.T
            x = a * x + (bb * gram + c * gram @ gram) @ x
        x = x.T if tall else x
        scale = math.sqrt(max(1.0, w.shape[0] / x.shape[1]))
        w = w - lr * scale * x.reshape(w.shape)
    return w


@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (5, 3, 2, 2), (7,)])
def test_steps_follow_the_rule(shape, nesterov):
    gen = torch.Generator().manual_seed(3)
    param = torch.randn(shape, dtype=F64, generator=gen)
    grads = [torch.randn(shape, dtype=F64, generator=gen) for _ in range(4)]
    expected = rule(param, grads, lr=0.05, mu=0.9, nesterov=nesterov, reg=0.01)
    grad = torch.zeros_like(param)
    opt = optim.Muon([(param, grad)], learn_rate=0.05, reg=0.01, momentum=0.9,
                     nesterov=nesterov)
    for g in grads:
        grad.copy_(g)
        opt.step()
    np.testing.assert_allclose(param.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_trains_torch_parameters_and_from_scratch_layers():
    torch.manual_seed(0)
    x, y = torch.randn(64, 10), torch.randint(0, 3, (64,))
    net = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
    opt = optim.Muon(net.parameters(), learn_rate=0.02)
    first = None
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < 0.5 * first
    layer = scratch.Linear(10, 3)
    loss_fn = scratch.CrossEntropyLoss()
    s_opt = optim.Muon(layer.params(), learn_rate=0.02)
    losses = []
    for _ in range(40):
        s_opt.zero_grad()
        losses.append(float(loss_fn(layer(x), y)))
        layer.backward(loss_fn.backward())
        s_opt.step()
    assert losses[-1] < losses[0]


def test_state_dict_resumes_exactly():
    gen = torch.Generator().manual_seed(4)
    grads = [torch.randn(5, 4, generator=gen) for _ in range(6)]

    def train(param, opt, part):
        for g in part:
            param.grad = g.clone()
            opt.step()

    a = torch.nn.Parameter(torch.ones(5, 4))
    opt_a = optim.Muon([a], learn_rate=0.1)
    train(a, opt_a, grads)
    b = torch.nn.Parameter(torch.ones(5, 4))
    opt_b = optim.Muon([b], learn_rate=0.1)
    train(b, opt_b, grads[:3])
    buffer = io.BytesIO()
    torch.save(opt_b.state_dict(), buffer)
    buffer.seek(0)
    opt_c = optim.Muon([b], learn_rate=0.5, momentum=0.5)
    opt_c.load_state_dict(torch.load(buffer, weights_only=True))
    train(b, opt_c, grads[3:])
    assert torch.equal(a, b)


@pytest.mark.skipif(not hasattr(torch.optim, "Muon"), reason="torch.optim.Muon needs torch 2.9+")
@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (32, 72)])
def test_matrices_move_as_with_torch_optim_muon(shape):
    """Same rule on 2-d parameters without weight decay; torch orthogonalises in bfloat16, so
    the moves agree to bfloat16's precision."""
    gen = torch.Generator().manual_seed(5)
    ours = torch.nn.Parameter(torch.randn(shape, dtype=F64, generator=gen))
    theirs = torch.nn.Parameter(ours.detach().clone())
    start = ours.detach().clone()
    opt_ours = optim.Muon([ours], learn_rate=0.05, momentum=0.9)
    opt_theirs = torch.optim.Muon([theirs], lr=0.05, weight_decay=0.0, momentum=0.9)
    for _ in range(5):
        g = torch.randn(shape, dtype=F64, generator=gen)
        ours.grad, theirs.grad = g.clone(), g.clone()
        opt_ours.step()
        opt_theirs.step()
    move_ours, move_theirs = ours.detach() - start, theirs.detach() - start
    assert (move_ours - move_theirs).norm() <= 0.03 * move_ours.norm()


def test_bad_coefficients_are_refused_at_construction():
    from scratchlab.errors import ConfigError

    with pytest.raises(ConfigError, match="3 finite numbers"):
        optim.Muon([torch.nn.Parameter(torch.ones(2, 2))], coefficients=(1.0, 2.0))
