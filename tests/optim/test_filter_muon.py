"""FilterMuon: the batched Newton-Schulz against the per-matrix one, the step against its rule
and against scratchlab.optim.Muon; CombinedOptimizer."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch

from scratchlab import optim
from scratchlab.errors import CheckpointError, ConfigError
from scratchlab.optim.muon import QUINTIC, newton_schulz

F64 = torch.float64
NS_TOLERANCE = 1e-12  # float64: batched and per-matrix products differ only in rounding


@pytest.mark.parametrize("shape", [(5, 6, 4), (5, 4, 6), (3, 64, 72), (4, 8, 8), (2, 3, 5, 7)])
@pytest.mark.parametrize("steps", [1, 3, 5])
def test_batched_newton_schulz_equals_newton_schulz_per_matrix(shape, steps):
    gen = torch.Generator().manual_seed(0)
    scales = torch.logspace(-3, 3, math.prod(shape[:-2]), dtype=F64).reshape(*shape[:-2], 1, 1)
    stack = torch.randn(shape, dtype=F64, generator=gen) * scales  # each with its own norm
    batched = newton_schulz(stack, steps)
    assert batched.shape == stack.shape and batched.dtype == F64
    for index in np.ndindex(*shape[:-2]):
        single = newton_schulz(stack[index], steps)
        torch.testing.assert_close(batched[index], single, atol=NS_TOLERANCE, rtol=0)


def rule(weights, grads_per_step, lrs, mu, nesterov, weight_decay, normalize):
    """A direct transcription of the update, in numpy float64, for each parameter on its own."""
    a, b, c = QUINTIC
    out = []
    for i, w in enumerate(weights):
        w, buf = w.numpy().copy(), np.zeros(w.shape)
        for grads, lr in zip(grads_per_step, lrs, strict=True):
            g = grads[i].numpy() + weight_decay * w
            buf = mu * buf + (1 - mu) * g
            u = (1 - mu) * g + mu * buf if nesterov else buf
            if normalize:
                w = w * math.sqrt(w.shape[0]) / np.sqrt((w**2).sum())
            x = u.reshape(w.shape[0], -1)
            x = x / (np.sqrt((x**2).sum()) + 1e-7)
            tall = x.shape[0] > x.shape[1]
            x = x.T if tall else x
            for _ in range(3):
                gram = x @ x.T
                x = a * x + (b * gram + c * gram @ gram) @ x
            x = x.T if tall else x
            scale = math.sqrt(max(1.0, x.shape[0] / x.shape[1]))
            w = w - lr * scale * x.reshape(w.shape)
        out.append(w)
    return out


SHAPES = [(6, 4, 3, 3), (6, 4, 3, 3), (8, 6, 3, 3), (6, 4, 3, 3), (9, 2), (2, 9)]


@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("normalize", [True, False])
def test_steps_follow_the_rule(nesterov, normalize):
    gen = torch.Generator().manual_seed(1)
    weights = [torch.randn(s, dtype=F64, generator=gen) for s in SHAPES]
    grads = [[torch.randn(s, dtype=F64, generator=gen) for s in SHAPES] for _ in range(4)]
    lrs = [0.1, 0.075, 0.05, 0.025]  # a schedule sets the group's lr before each step
    expected = rule(weights, grads, lrs, 0.6, nesterov, 0.01, normalize)
    params = [torch.nn.Parameter(w.clone()) for w in weights]
    opt = optim.FilterMuon(params, lr=lrs[0], momentum=0.6, nesterov=nesterov, ns_steps=3,
                           weight_decay=0.01, normalize_weights=normalize)
    for step, lr in zip(grads, lrs, strict=True):
        for p, g in zip(params, step, strict=True):
            p.grad = g.clone()
        opt.param_groups[0]["lr"] = lr
        opt.step()
    for p, want in zip(params, expected, strict=True):
        np.testing.assert_allclose(p.detach().numpy(), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (5, 3, 2, 2), (32, 8, 3, 3)])
def test_matrices_move_as_with_scratchlab_muon(shape):
    gen = torch.Generator().manual_seed(2)
    ours = torch.nn.Parameter(torch.randn(shape, dtype=F64, generator=gen))
    theirs = torch.nn.Parameter(ours.detach().clone())
    opt_ours = optim.FilterMuon([ours], lr=0.05, momentum=0.9, weight_decay=0.01)
    opt_theirs = optim.Muon([theirs], learn_rate=0.05, reg=0.01, momentum=0.9)
    for _ in range(5):
        g = torch.randn(shape, dtype=F64, generator=gen)
        ours.grad, theirs.grad = g.clone(), g.clone()
        opt_ours.step()
        opt_theirs.step()
    torch.testing.assert_close(ours.detach(), theirs.detach(), atol=1e-12, rtol=0)


def test_normalized_filter_banks_keep_their_norm_and_bf16_moves_agree():
    gen = torch.Generator().manual_seed(3)
    start = torch.randn(16, 8, 3, 3, generator=gen)
    moves = []
    for bf16 in (False, True):
        param = torch.nn.Parameter(start.clone())
        opt = optim.FilterMuon([param], lr=0.0, normalize_weights=True, ns_bf16=bf16)
        param.grad = torch.randn(16, 8, 3, 3, generator=torch.Generator().manual_seed(4))
        opt.step()
        assert param.norm().item() == pytest.approx(4.0, rel=1e-6)  # sqrt(16 rows)
        opt.param_groups[0]["lr"] = 0.1
        before = param.detach().clone()
        opt.step()
        moves.append(param.detach() - before)
    assert (moves[1] - moves[0]).norm() <= 0.05 * moves[0].norm()  # bfloat16: 8-bit mantissa


def test_state_dict_resumes_exactly():
    gen = torch.Generator().manual_seed(5)
    grads = [torch.randn(4, 3, 3, 3, generator=gen) for _ in range(6)]

    def train(param, opt, part):
        for g in part:
            param.grad = g.clone()
            opt.step()

    a = torch.nn.Parameter(torch.ones(4, 3, 3, 3))
    train(a, optim.FilterMuon([a], lr=0.1, normalize_weights=True), grads)
    b = torch.nn.Parameter(torch.ones(4, 3, 3, 3))
    opt_b = optim.FilterMuon([b], lr=0.1, normalize_weights=True)
    train(b, opt_b, grads[:3])
    buffer = io.BytesIO()
    torch.save(opt_b.state_dict(), buffer)
    buffer.seek(0)
    opt_c = optim.FilterMuon([b], lr=0.5, momentum=0.5)
    opt_c.load_state_dict(torch.load(buffer, weights_only=True))
    train(b, opt_c, grads[3:])
    assert torch.equal(a, b)


def test_bad_parameters_and_settings_are_refused():
    with pytest.raises(ConfigError, match="2 or more dims"):
        optim.FilterMuon([torch.nn.Parameter(torch.ones(3))])
    with pytest.raises(ConfigError, match="no parameters"):
        optim.FilterMuon([])
    with pytest.raises(ConfigError, match="momentum"):
        optim.FilterMuon([torch.nn.Parameter(torch.ones(2, 2))], momentum=1.0)
    with pytest.raises(ConfigError, match="3 finite numbers"):
        optim.FilterMuon([torch.nn.Parameter(torch.ones(2, 2))], coefficients=(1.0, 2.0))


def test_combined_optimizer_steps_saves_and_loads_its_parts():
    torch.manual_seed(0)
    conv, head = torch.nn.Conv2d(3, 4, 3, bias=False), torch.nn.Linear(4, 2)
    combined = optim.CombinedOptimizer(torch.optim.SGD(head.parameters(), lr=0.1, momentum=0.9),
                                       optim.FilterMuon(conv.parameters(), lr=0.05))
    assert [len(g["params"]) for g in combined.param_groups] == [2, 1]
    for group in combined.param_groups:
        group["lr"] *= 0.5  # a schedule reaches every part
    assert combined.optimizers[1].param_groups[0]["lr"] == 0.025
    before = [p.detach().clone() for p in (conv.weight, head.weight)]
    head(conv(torch.randn(2, 3, 3, 3)).flatten(1)).sum().backward()
    combined.step()
    combined.zero_grad()
    assert conv.weight.grad is None and head.weight.grad is None
    assert not torch.equal(before[0], conv.weight) and not torch.equal(before[1], head.weight)
    state = combined.state_dict()
    assert len(state["optimizers"]) == 2
    combined.load_state_dict(state)
    with pytest.raises(CheckpointError, match="combined"):
        combined.load_state_dict({"optimizers": state["optimizers"][:1]})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_step_never_syncs_and_is_capturable_in_a_graph():
    shapes = [(64, 24, 3, 3), (64, 64, 3, 3), (256, 64, 3, 3), (256, 256, 3, 3), (256, 256, 3, 3)]
    params = [torch.nn.Parameter(torch.randn(s, device="cuda")) for s in shapes]
    opt = optim.FilterMuon(params, lr=0.24, momentum=0.6, ns_steps=3, normalize_weights=True)
    grads = [torch.randn_like(p) for p in params]
    for p, g in zip(params, grads, strict=True):
        p.grad = g.clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        opt.step()  # warm-up: creates the state
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.set_sync_debug_mode("error")
    try:
        opt.step()  # raises if any part of the step waits for the device
    finally:
        torch.cuda.set_sync_debug_mode("default")
    saved = [(p.detach().clone(), opt.state[p]["momentum_buffer"].clone()) for p in params]

    def restore():
        with torch.no_grad():
            for p, (weight, buffer) in zip(params, saved, strict=True):
                p.copy_(weight)
                opt.state[p]["momentum_buffer"].copy_(buffer)

    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        opt.step()
    restore()
    graph.replay()
    replayed = [p.detach().clone() for p in params]
    restore()
    opt.step()  # the same step, eager, from the same state
    for p, r in zip(params, replayed, strict=True):
        torch.testing.assert_close(p.detach(), r)
