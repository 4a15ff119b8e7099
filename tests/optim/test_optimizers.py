"""Optimizers against torch.optim, step for step, and their state dicts."""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F

from scratchlab import optim, scratch
from scratchlab.errors import CheckpointError, ConfigError

F64 = torch.float64

# (ours, torch's equivalent) with the same settings.
PAIRS = {
    "sgd": (
        lambda p: optim.VanillaSGD(p, learn_rate=0.1, reg=0.01),
        lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.01),
    ),
    "momentum": (
        lambda p: optim.MomentumSGD(p, learn_rate=0.1, reg=0.01, momentum=0.8),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.8, weight_decay=0.01),
    ),
    "rmsprop": (
        lambda p: optim.RMSProp(
            p, learn_rate=0.01, reg=0.01, decay=0.9, eps=1e-6, eps_inside=False
        ),
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.01),
    ),
    "adam": (
        lambda p: optim.Adam(p, learn_rate=0.01, reg=0.01, betas=(0.8, 0.99), eps=1e-6),
        lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01),
    ),
}


def problem():
    """Parameters (torch leaves) and a smooth loss of them."""
    generator = torch.Generator().manual_seed(0)
    w = torch.randn(4, 3, dtype=F64, generator=generator).requires_grad_(True)
    b = torch.randn(3, dtype=F64, generator=generator).requires_grad_(True)
    x = torch.randn(10, 4, dtype=F64, generator=generator)
    target = torch.randn(10, 3, dtype=F64, generator=generator)
    return [w, b], lambda: ((torch.tanh(x @ w + b) - target) ** 2).sum()


def trajectory(make_optimizer, steps=25, learn_rates=None):
    params, loss_fn = problem()
    optimizer = make_optimizer(params)
    path = []
    for t in range(steps):
        if learn_rates is not None:
            for group in getattr(optimizer, "param_groups", []):
                group["lr"] = learn_rates[t]
            if hasattr(optimizer, "learn_rate"):
                optimizer.learn_rate = learn_rates[t]
        optimizer.zero_grad()
        loss_fn().backward()
        optimizer.step()
        path.append(torch.cat([p.detach().flatten() for p in params]))
    return torch.stack(path), optimizer


@pytest.mark.parametrize("name", PAIRS)
def test_equals_torch_optim_step_for_step(name):
    ours, theirs = PAIRS[name]
    path, _ = trajectory(ours)
    reference, _ = trajectory(theirs)
    assert not torch.allclose(path[0], path[-1])  # it moved
    assert torch.allclose(path, reference, rtol=1e-10, atol=1e-12)


def test_momentum_forms_agree_for_constant_rate_only():
    ours, theirs = PAIRS["momentum"]
    path, mine = trajectory(ours, steps=5)
    reference, torch_opt = trajectory(theirs, steps=5)
    buffers = [torch_opt.state[p]["momentum_buffer"] for p in torch_opt.param_groups[0]["params"]]
    for velocity, buffer in zip(mine.state["velocity"], buffers, strict=True):
        assert torch.allclose(velocity, -0.1 * buffer)  # v = -lr * b
    rates = [0.1] * 10 + [0.01] * 10
    path, _ = trajectory(ours, steps=20, learn_rates=rates)
    reference, _ = trajectory(theirs, steps=20, learn_rates=rates)
    assert torch.allclose(path[:10], reference[:10], rtol=1e-10)
    assert not torch.allclose(path[10:], reference[10:], rtol=1e-3)


@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_scratch_pairs_train_like_torch(name):
    torch.manual_seed(0)
    model = scratch.MLP(6, 3, [5]).to(dtype=F64)
    w1, b1, w2, b2 = (p.clone().requires_grad_(True) for p, _ in model.params())
    x, y = torch.randn(8, 6, dtype=F64), torch.randint(0, 3, (8,))
    loss_fn = scratch.CrossEntropyLoss()
    ours, theirs = PAIRS[name][0](model.params()), PAIRS[name][1]([w1, b1, w2, b2])
    for _ in range(10):
        ours.zero_grad()
        loss_fn(model(x), y)
        model.backward(loss_fn.backward())
        ours.step()
        theirs.zero_grad()
        F.cross_entropy(torch.relu(x @ w1.T + b1) @ w2.T + b2, y).backward()
        theirs.step()
    for (p, _), q in zip(model.params(), (w1, b1, w2, b2), strict=True):
        assert torch.allclose(p, q, rtol=1e-10)


@pytest.mark.parametrize("name", PAIRS)
def test_state_dict_round_trip_continues_exactly(name):
    make = PAIRS[name][0]
    straight, _ = trajectory(make, steps=10)

    params, loss_fn = problem()
    optimizer = make(params)
    for _ in range(5):
        optimizer.zero_grad()
        loss_fn().backward()
        optimizer.step()
    buffer = io.BytesIO()
    torch.save(
        {"params": [p.detach() for p in params], "optimizer": optimizer.state_dict()}, buffer
    )
    buffer.seek(0)
    saved = torch.load(buffer)

    params, loss_fn = problem()
    with torch.no_grad():
        for p, value in zip(params, saved["params"], strict=True):
            p.copy_(value)
    resumed = make(params)
    resumed.load_state_dict(saved["optimizer"])
    for t in range(5, 10):
        resumed.zero_grad()
        loss_fn().backward()
        resumed.step()
        assert torch.equal(torch.cat([p.detach().flatten() for p in params]), straight[t])


def test_l2_reg_is_added_to_the_gradient():
    param, grad = torch.ones(3), torch.zeros(3)
    optim.VanillaSGD([(param, grad)], learn_rate=0.1, reg=0.5).step()
    assert torch.allclose(param, torch.full((3,), 1 - 0.1 * 0.5))


def test_torch_params_without_grad_are_skipped_and_zero_grad():
    used, unused = torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    optimizer = optim.Adam([used, unused], learn_rate=0.1)
    (used * 3).sum().backward()
    optimizer.step()
    assert torch.equal(unused.detach(), torch.ones(2)) and not torch.equal(
        used.detach(), torch.ones(2)
    )
    grad = used.grad
    optimizer.zero_grad()
    assert used.grad is grad and not grad.any() and unused.grad is None


def test_zero_grad_zeroes_scratch_grads_in_place():
    layer = scratch.Linear(3, 2)
    layer(torch.randn(4, 3))
    layer.backward(torch.ones(4, 2))
    grads = [g for _, g in layer.params()]
    optim.RMSProp(layer.params()).zero_grad()
    assert all(g is h and not g.any() for (_, g), h in zip(layer.params(), grads, strict=True))


def test_learn_rate_is_read_at_each_step():
    param, grad = torch.zeros(1), torch.ones(1)
    optimizer = optim.VanillaSGD([(param, grad)], learn_rate=1.0)
    optimizer.step()
    optimizer.learn_rate = 0.5
    optimizer.step()
    assert param.item() == -1.5


@pytest.mark.parametrize(
    "make",
    [
        lambda p: optim.VanillaSGD(p, learn_rate=-1.0),
        lambda p: optim.VanillaSGD(p, reg=-0.1),
        lambda p: optim.MomentumSGD(p, momentum=1.0),
        lambda p: optim.RMSProp(p, decay=1.5),
        lambda p: optim.Adam(p, betas=(0.9, 1.0)),
        lambda p: optim.Adam(p, eps=-1e-8),
        lambda p: optim.Adam([]),
        lambda p: optim.Adam([1.0, 2.0]),
        lambda p: optim.Adam([(torch.zeros(2), torch.zeros(3))]),
    ],
)
def test_bad_settings_are_config_errors(make):
    with pytest.raises(ConfigError):
        make([torch.zeros(2, requires_grad=True)])


def test_load_state_dict_mismatch_is_checkpoint_error():
    state = optim.Adam([torch.zeros(2, requires_grad=True)]).state_dict()
    with pytest.raises(CheckpointError):
        optim.Adam([torch.zeros(3, requires_grad=True)]).load_state_dict(state)
    with pytest.raises(CheckpointError):
        optim.RMSProp([torch.zeros(2, requires_grad=True)]).load_state_dict(state)


def test_repr():
    text = repr(optim.MomentumSGD([torch.zeros(1, requires_grad=True)], learn_rate=0.1))
    assert text == "MomentumSGD(learn_rate=0.1, reg=0.0, momentum=0.9)"
