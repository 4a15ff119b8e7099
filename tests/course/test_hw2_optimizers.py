"""Items 2 and 3: hw2's optimizers as the course calls them (`hw2.optimizers` -> scratchlab.optim).

The seed's RMSProp: r <- decay r + (1 - decay) g^2; theta <- theta - lr / sqrt(r + eps) * g, with
g the gradient plus reg * theta. `zero_grad` "sets the gradient of the optimized parameters to
zero (in place)".
"""

from __future__ import annotations

import math

import torch
from torch import nn

import scratchlab.optim as optimizers
import scratchlab.scratch as layers


def seed_rmsprop(
    theta: list[float], grads: list[list[float]], lr: float, reg: float, decay: float, eps: float
) -> list[float]:
    """The seed's update rule, step by step, in plain Python floats."""
    r = [0.0] * len(theta)
    for g in grads:
        for i, gi in enumerate(g):
            gi = gi + reg * theta[i]
            r[i] = decay * r[i] + (1 - decay) * gi * gi
            theta[i] -= lr / math.sqrt(r[i] + eps) * gi
    return theta


def test_rmsprop_puts_eps_under_the_root():
    grads = [[1e-4, -3e-4, 2.0], [2e-4, 1e-4, -1.0], [-1e-4, 5e-5, 0.5]]
    p = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    dp = torch.zeros(3, dtype=torch.float64)
    opt = optimizers.RMSProp([(p, dp)], learn_rate=0.1, reg=1e-3, decay=0.99, eps=1e-8)
    for g in grads:
        dp.copy_(torch.tensor(g, dtype=torch.float64))
        opt.step()
    expected = seed_rmsprop([0.5, -1.0, 2.0], grads, lr=0.1, reg=1e-3, decay=0.99, eps=1e-8)
    torch.testing.assert_close(p, torch.tensor(expected, dtype=torch.float64))


def test_small_gradient_step_is_the_seeds_not_ten_times_it():
    p, dp = torch.zeros(1, dtype=torch.float64), torch.full((1,), 1e-4, dtype=torch.float64)
    optimizers.RMSProp([(p, dp)], learn_rate=1e-3).step()  # the course's defaults otherwise
    seed_step = 1e-3 / math.sqrt(0.01 * 1e-8 + 1e-8) * 1e-4
    assert abs(float(p) + seed_step) < 1e-12


def test_torch_form_stays_as_a_named_option():
    a = nn.Parameter(torch.tensor([1e-2, -2.0]))
    b = nn.Parameter(a.detach().clone())
    ours = optimizers.RMSProp([a], learn_rate=0.01, decay=0.9, eps=1e-6, eps_inside=False)
    theirs = torch.optim.RMSprop([b], lr=0.01, alpha=0.9, eps=1e-6)
    for _ in range(5):
        for opt, p in ((ours, a), (theirs, b)):
            opt.zero_grad()
            (p**2).sum().backward()
            opt.step()
    torch.testing.assert_close(a, b)


def test_zero_grad_zeroes_torch_gradients_in_place():
    model = nn.Linear(4, 2)
    opt = optimizers.VanillaSGD(list(model.parameters()), learn_rate=0.1)
    model(torch.randn(3, 4)).sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g.abs().sum() > 0 for g in grads)
    opt.zero_grad()
    for p, g in zip(model.parameters(), grads, strict=True):
        assert p.grad is g and torch.count_nonzero(g) == 0


def test_zero_grad_zeroes_layer_gradients_in_place():
    linear = layers.Linear(4, 2)
    linear(torch.randn(3, 4))
    linear.backward(torch.ones(3, 2))
    opt = optimizers.MomentumSGD(linear.params(), learn_rate=0.1, momentum=0.9)
    opt.zero_grad()
    assert all(torch.count_nonzero(dp) == 0 for _, dp in linear.params())
