"""Policy-gradient losses against direct per-step formulas on tiny hand-made batches."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchlab.errors import ConfigError
from scratchlab.rl.episodes import TrainBatch
from scratchlab.rl.losses import (
    AACPolicyGradientLoss,
    ActionEntropyLoss,
    BaselinePolicyGradientLoss,
    VanillaPolicyGradientLoss,
    method_losses,
)

SCORES = [[0.5, -1.0, 2.0], [0.0, 0.0, 0.0], [3.0, 1.0, -2.0], [-0.5, 0.25, 1.5]]
ACTIONS = [2, 0, 1, 1]
QVALS = [3.0, -1.0, 0.5, 2.0]
VALUES = [1.0, 0.5, -0.25, 2.5]


def tiny_batch():
    n = len(ACTIONS)
    return TrainBatch(
        states=torch.zeros(n, 2, dtype=torch.float64),
        actions=torch.tensor(ACTIONS),
        q_vals=torch.tensor(QVALS, dtype=torch.float64),
        total_rewards=torch.tensor([sum(QVALS)], dtype=torch.float64),
    )


def softmax_row(row):
    exps = [math.exp(s) for s in row]
    return [e / sum(exps) for e in exps]


def log_prob(t):
    return math.log(softmax_row(SCORES[t])[ACTIONS[t]])


def scores_tensor():
    return torch.tensor(SCORES, dtype=torch.float64, requires_grad=True)


def test_vanilla_loss_matches_direct_formula():
    loss, parts = VanillaPolicyGradientLoss()(tiny_batch(), scores_tensor())
    expected = -sum(QVALS[t] * log_prob(t) for t in range(4)) / 4
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    assert parts["policy_loss"] == pytest.approx(expected, rel=1e-12)


def test_vanilla_gradient_is_q_times_onehot_minus_probs():
    scores = scores_tensor()
    VanillaPolicyGradientLoss()(tiny_batch(), scores)[0].backward()
    for t in range(4):
        probs = softmax_row(SCORES[t])
        for a in range(3):
            expected = -QVALS[t] * ((a == ACTIONS[t]) - probs[a]) / 4
            assert scores.grad[t, a].item() == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_baseline_loss_subtracts_batch_mean_return():
    loss, parts = BaselinePolicyGradientLoss()(tiny_batch(), scores_tensor())
    b = sum(QVALS) / 4
    expected = -sum((QVALS[t] - b) * log_prob(t) for t in range(4)) / 4
    assert parts["baseline"] == pytest.approx(b)
    assert loss.item() == pytest.approx(expected, rel=1e-12)


def test_entropy_loss_matches_direct_formula():
    beta = 0.3
    loss, parts = ActionEntropyLoss(3, beta)(tiny_batch(), scores_tensor())
    entropies = [-sum(p * math.log(p) for p in softmax_row(row)) for row in SCORES]
    normalised = sum(entropies) / 4 / math.log(3)
    assert parts["entropy"] == pytest.approx(normalised, rel=1e-12)
    assert loss.item() == pytest.approx(-beta * normalised, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    n_actions=st.integers(2, 8),
    scale=st.floats(0.0, 30.0),
    seed=st.integers(0, 2**16),
    beta=st.floats(0.01, 5.0),
)
def test_normalised_entropy_lies_in_unit_interval(n_actions, scale, seed, beta):
    gen = torch.Generator().manual_seed(seed)
    scores = scale * torch.randn(5, n_actions, generator=gen, dtype=torch.float64)
    loss_fn = ActionEntropyLoss(n_actions, beta)
    loss, parts = loss_fn(tiny_batch(), scores)
    assert -1e-12 <= parts["entropy"] <= 1 + 1e-12
    assert -beta - 1e-12 <= loss.item() <= 1e-12


def test_entropy_bounds_are_reached():
    uniform = torch.zeros(4, 5, dtype=torch.float64)
    loss, parts = ActionEntropyLoss(5, beta=2.0)(tiny_batch(), uniform)
    assert parts["entropy"] == pytest.approx(1.0) and loss.item() == pytest.approx(-2.0)
    peaked = torch.tensor([[60.0, 0.0, 0.0]] * 4, dtype=torch.float64)
    assert ActionEntropyLoss(3, 2.0)(tiny_batch(), peaked)[1]["entropy"] == pytest.approx(
        0.0, abs=1e-20
    )
    with pytest.raises(ConfigError):
        ActionEntropyLoss(1)


def test_aac_loss_matches_direct_formula():
    delta = 0.7
    values = torch.tensor(VALUES, dtype=torch.float64, requires_grad=True)
    loss, parts = AACPolicyGradientLoss(delta)(tiny_batch(), (scores_tensor(), values))
    adv = [QVALS[t] - VALUES[t] for t in range(4)]
    loss_p = -sum(adv[t] * log_prob(t) for t in range(4)) / 4
    loss_v = sum(a * a for a in adv) / 4
    assert parts["policy_loss"] == pytest.approx(loss_p, rel=1e-12)
    assert parts["value_loss"] == pytest.approx(loss_v, rel=1e-12)
    assert parts["advantage"] == pytest.approx(sum(adv) / 4)
    assert loss.item() == pytest.approx(loss_p + delta * loss_v, rel=1e-12)


def test_aac_advantage_is_detached_from_policy_term():
    """The value head gets gradient from the MSE only: d loss / d V = delta * 2 (V - q) / N."""
    delta = 0.7
    values = torch.tensor(VALUES, dtype=torch.float64, requires_grad=True)
    AACPolicyGradientLoss(delta)(tiny_batch(), (scores_tensor(), values))[0].backward()
    expected = [delta * 2 * (VALUES[t] - QVALS[t]) / 4 for t in range(4)]
    np.testing.assert_allclose(values.grad.numpy(), expected, rtol=1e-12)
    values.grad = None
    AACPolicyGradientLoss(0.0)(tiny_batch(), (scores_tensor(), values))[0].backward()
    assert torch.count_nonzero(values.grad) == 0


def test_aac_loss_needs_state_values():
    with pytest.raises(ConfigError):
        AACPolicyGradientLoss()(tiny_batch(), scores_tensor())


def test_methods_combine_the_right_losses():
    kinds = {
        m: [type(l).__name__ for l in method_losses(m, 3, 0.1, 1.0)]
        for m in ("vpg", "bpg", "epg", "cpg", "aac")
    }
    assert kinds == {
        "vpg": ["VanillaPolicyGradientLoss"],
        "bpg": ["BaselinePolicyGradientLoss"],
        "epg": ["VanillaPolicyGradientLoss", "ActionEntropyLoss"],
        "cpg": ["BaselinePolicyGradientLoss", "ActionEntropyLoss"],
        "aac": ["AACPolicyGradientLoss", "ActionEntropyLoss"],
    }
    with pytest.raises(ConfigError):
        method_losses("ppo", 3, 0.1, 1.0)


def test_normalised_advantages_have_mean_zero_and_unit_std():
    import statistics

    adv = [QVALS[t] - VALUES[t] for t in range(4)]
    mean, std = sum(adv) / 4, statistics.stdev(adv)
    norm = [(a - mean) / (std + 1e-8) for a in adv]
    values = torch.tensor(VALUES, dtype=torch.float64)
    aac = AACPolicyGradientLoss(0.0, normalize=True)
    loss, parts = aac(tiny_batch(), (scores_tensor(), values))
    assert loss.item() == pytest.approx(-sum(norm[t] * log_prob(t) for t in range(4)) / 4)
    assert parts["advantage"] == pytest.approx(mean)  # logged before normalising
    b = sum(QVALS) / 4
    centred = [q - b for q in QVALS]
    std_q = statistics.stdev(centred)
    loss_b, _ = BaselinePolicyGradientLoss(normalize=True)(tiny_batch(), scores_tensor())
    expected = -sum(centred[t] / (std_q + 1e-8) * log_prob(t) for t in range(4)) / 4
    assert loss_b.item() == pytest.approx(expected, rel=1e-9)


def test_aac_uses_the_batch_advantages_when_given():
    batch = tiny_batch()
    batch.advantages = torch.tensor([1.0, -2.0, 0.5, 0.0], dtype=torch.float64)
    values = torch.tensor(VALUES, dtype=torch.float64)
    _, parts = AACPolicyGradientLoss(1.0)(batch, (scores_tensor(), values))
    expected = -sum(a * log_prob(t) for t, a in enumerate([1.0, -2.0, 0.5, 0.0])) / 4
    assert parts["policy_loss"] == pytest.approx(expected, rel=1e-12)
    squares = [(q - v) ** 2 for q, v in zip(QVALS, VALUES, strict=True)]
    assert parts["value_loss"] == pytest.approx(sum(squares) / 4)


def test_clipped_ratio_by_hand():
    """Ratios (1.5, 0.5, 1.1, 1.0), advantages (1, 1, -1, -2), clip 0.2: the first is clipped.

    min(1.5, 1.2) = 1.2 (clipped, no gradient), min(0.5, 0.8) = 0.5, min(-1.1, -1.1) = -1.1,
    -2.0: policy loss = -(1.2 + 0.5 - 1.1 - 2.0) / 4 = 0.35.
    """
    ratios = [1.5, 0.5, 1.1, 1.0]
    batch = tiny_batch()
    batch.advantages = torch.tensor([1.0, 1.0, -1.0, -2.0], dtype=torch.float64)
    batch.old_log_probs = torch.tensor(
        [log_prob(t) - math.log(r) for t, r in enumerate(ratios)], dtype=torch.float64
    )
    scores = scores_tensor()
    values = torch.tensor(VALUES, dtype=torch.float64)
    loss, parts = AACPolicyGradientLoss(0.0, clip_range=0.2)(batch, (scores, values))
    assert parts["policy_loss"] == pytest.approx(0.35, rel=1e-10)
    loss.backward()
    assert torch.count_nonzero(scores.grad[0]) == 0 and torch.count_nonzero(scores.grad[1:]) > 0
    # ratio 1.1 * advantage -1 is inside the range: d loss / d score = -A * rho * (onehot - p) / N
    probs = softmax_row(SCORES[2])
    for a in range(3):
        expected = 1.0 * 1.1 * ((a == ACTIONS[2]) - probs[a]) / 4
        assert scores.grad[2, a].item() == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ConfigError):
        AACPolicyGradientLoss(clip_range=0.2)(tiny_batch(), (scores_tensor(), values))
