"""Discounted returns and training batches against direct loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchlab.errors import ConfigError
from scratchlab.rl.episodes import Episode, TrainBatch, discounted_returns


def returns_by_loop(rewards, gamma):
    """q_t = sum_{k>=t} gamma^(k-t) r_k, one step at a time."""
    out = []
    for t in range(len(rewards)):
        out.append(sum(gamma ** (k - t) * rewards[k] for k in range(t, len(rewards))))
    return np.array(out)


@settings(max_examples=50, deadline=None)
@given(
    rewards=st.lists(st.floats(-10, 10, allow_nan=False), min_size=1, max_size=60),
    gamma=st.floats(0.0, 1.0),
)
def test_discounted_returns_match_direct_loop(rewards, gamma):
    np.testing.assert_allclose(
        discounted_returns(np.array(rewards), gamma),
        returns_by_loop(rewards, gamma),
        rtol=1e-9,
        atol=1e-9,
    )


def test_discounted_returns_edge_cases():
    assert discounted_returns(np.array([]), 0.9).shape == (0,)
    np.testing.assert_allclose(discounted_returns(np.ones(4), 1.0), [4, 3, 2, 1])
    np.testing.assert_allclose(discounted_returns(np.array([1.0, 2.0, 3.0]), 0.0), [1, 2, 3])
    with pytest.raises(ConfigError):
        discounted_returns(np.ones(3), 1.5)


def make_episode(rng, length, obs_dim=3):
    return Episode(
        states=rng.normal(size=(length, obs_dim)).astype(np.float32),
        actions=rng.integers(0, 2, size=length),
        rewards=rng.normal(size=length),
    )


def test_train_batch_concatenates_episodes():
    rng = np.random.default_rng(0)
    episodes = [make_episode(rng, n) for n in (3, 1, 5)]
    batch = TrainBatch.from_episodes(episodes, gamma=0.9, reward_scale=0.5)
    assert len(batch) == 9 and batch.num_episodes == 3
    assert batch.states.dtype == torch.float32 and batch.actions.dtype == torch.int64
    expected_q = np.concatenate([returns_by_loop(ep.rewards * 0.5, 0.9) for ep in episodes])
    np.testing.assert_allclose(batch.q_vals.numpy(), expected_q, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        batch.total_rewards.numpy(), [ep.rewards.sum() for ep in episodes], rtol=1e-5
    )
    np.testing.assert_array_equal(
        batch.actions.numpy(), np.concatenate([ep.actions for ep in episodes])
    )
    with pytest.raises(ConfigError):
        TrainBatch.from_episodes([], gamma=0.9)
