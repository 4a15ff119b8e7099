"""Policy networks and the acting agent."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scratchlab.errors import ConfigError, ShapeError
from scratchlab.rl.agent import PolicyAgent
from scratchlab.rl.nets import AACPolicyNet, PolicyNet, build_policy_net


def test_policy_net_shapes_and_errors():
    net = PolicyNet(4, 3, hidden=(8, 8))
    assert net(torch.zeros(5, 4)).shape == (5, 3)
    with pytest.raises(ShapeError):
        net(torch.zeros(5, 6))
    with pytest.raises(ConfigError):
        PolicyNet(4, 3, activation="swishy")


def test_aac_net_shares_its_body():
    net = build_policy_net("aac", 4, 2, hidden=(16,))
    assert isinstance(net, AACPolicyNet)
    scores, values = net(torch.randn(7, 4))
    assert scores.shape == (7, 2) and values.shape == (7,)
    torch.testing.assert_close(net.action_scores(torch.ones(3, 4)), net(torch.ones(3, 4))[0])
    assert isinstance(build_policy_net("vpg", 4, 2, hidden=(16,)), PolicyNet)


def test_greedy_agent_takes_argmax():
    torch.manual_seed(0)
    net = PolicyNet(4, 5, hidden=(16,))
    states = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    actions = PolicyAgent(net, greedy=True).act(states)
    np.testing.assert_array_equal(actions, net(torch.from_numpy(states)).argmax(-1).numpy())


def test_sampling_agent_follows_the_action_distribution():
    net = PolicyNet(2, 3, hidden=())
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.copy_(torch.log(torch.tensor([0.2, 0.5, 0.3])))
    agent = PolicyAgent(net)
    torch.testing.assert_close(
        agent.action_distribution(np.zeros((1, 2)))[0], torch.tensor([0.2, 0.5, 0.3])
    )
    torch.manual_seed(0)
    actions = agent.act(np.zeros((40_000, 2), dtype=np.float32))
    freqs = np.bincount(actions, minlength=3) / len(actions)
    # 5 standard errors of a proportion with n = 40000 is below 0.013.
    np.testing.assert_allclose(freqs, [0.2, 0.5, 0.3], atol=0.013)
