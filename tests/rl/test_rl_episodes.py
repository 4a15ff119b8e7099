"""Discounted returns and training batches against direct loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchlab.errors import ConfigError
from scratchlab.rl.episodes import Episode, TrainBatch, discounted_returns, gae_advantages


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


# GAE on a 3-step episode, by hand: gamma 0.9, values (0.5, 1.0, -1.0), V = 0 after the end.
# deltas: 1 + 0.9 * 1.0 - 0.5 = 1.4, 0 + 0.9 * -1.0 - 1.0 = -1.9, 2 + 0 - -1.0 = 3.0
GAE_REWARDS, GAE_VALUES = [1.0, 0.0, 2.0], [0.5, 1.0, -1.0]


@pytest.mark.parametrize(
    ("lam", "expected"),
    [
        (0.0, [1.4, -1.9, 3.0]),  # one-step TD errors
        (0.5, [1.4 + 0.45 * (-1.9 + 0.45 * 3.0), -1.9 + 0.45 * 3.0, 3.0]),  # 1.1525, -0.55, 3.0
        (1.0, [2.62 - 0.5, 1.8 - 1.0, 2.0 + 1.0]),  # q_t - V(s_t), q = (2.62, 1.8, 2)
    ],
)
def test_gae_matches_hand_computed_values(lam, expected):
    adv = gae_advantages(np.array(GAE_REWARDS), np.array(GAE_VALUES), 0.9, lam)
    np.testing.assert_allclose(adv, expected, rtol=1e-12)


def test_gae_of_one_step_and_invalid_lambda():
    np.testing.assert_allclose(gae_advantages(np.array([5.0]), np.array([2.0]), 0.9, 0.7), [3.0])
    with pytest.raises(ConfigError):
        gae_advantages(np.ones(2), np.ones(2), 0.9, 1.5)


def test_batch_gae_keeps_episodes_apart_and_targets_lambda_returns():
    first = Episode(np.zeros((3, 2), np.float32), np.zeros(3, int), np.array(GAE_REWARDS))
    second = Episode(np.zeros((1, 2), np.float32), np.zeros(1, int), np.array([5.0]))
    batch = TrainBatch.from_episodes([first, second], gamma=0.9, reward_scale=2.0)
    values = torch.tensor([2 * v for v in GAE_VALUES] + [4.0])
    out = batch.with_gae(values, gamma=0.9, lam=0.5)
    # Rewards and values both doubled: the first episode's advantages double; the second is
    # 10 - 4 = 6 (nothing leaks across the episode boundary).
    expected = [2 * 1.1525, 2 * -0.55, 2 * 3.0, 6.0]
    np.testing.assert_allclose(out.advantages.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(out.q_vals.numpy(), np.array(expected) + values.numpy(), rtol=1e-6)
    with pytest.raises(ConfigError):
        batch.subset(torch.tensor([0, 1])).with_gae(values[:2], 0.9, 0.5)


def test_gae_bootstraps_a_truncated_episode_from_the_value_it_stopped_in():
    r, v = np.array(GAE_REWARDS), np.array(GAE_VALUES)
    # lam = 1: the return with the tail's value added, discounted past the last step
    q = [sum(0.9**k * x for k, x in enumerate([*GAE_REWARDS[t:], 4.0])) for t in range(3)]
    np.testing.assert_allclose(gae_advantages(r, v, 0.9, 1.0, last_value=4.0), np.array(q) - v)
    # lam = 0: only the last TD error sees the tail
    td = gae_advantages(r, v, 0.9, 0.0, last_value=4.0)
    np.testing.assert_allclose(td, [1.4, -1.9, 3.0 + 0.9 * 4.0])


def test_batch_bootstraps_truncated_episodes_only():
    ended = Episode(np.zeros((3, 2), np.float32), np.zeros(3, int), np.array(GAE_REWARDS))
    cut = Episode(np.zeros((1, 2), np.float32), np.zeros(1, int), np.array([5.0]),
                  final_state=np.array([7.0, 8.0], np.float32))
    batch = TrainBatch.from_episodes([ended, cut], gamma=0.9)
    assert batch.truncated.tolist() == [False, True]
    assert batch.final_states.tolist() == [[0.0, 0.0], [7.0, 8.0]]
    values = torch.tensor([*GAE_VALUES, 2.0])
    out = batch.with_gae(values, 0.9, 1.0, final_values=torch.tensor([100.0, 10.0]))
    plain = batch.with_gae(values, 0.9, 1.0)
    # the ended episode ignores its (meaningless) final value; the cut one adds 0.9 * 10
    np.testing.assert_allclose(out.advantages[:3].numpy(), plain.advantages[:3].numpy())
    np.testing.assert_allclose(out.advantages[3].item(), 5.0 + 9.0 - 2.0, rtol=1e-6)
    assert TrainBatch.from_episodes([ended], 0.9).final_states is None
    assert batch.to("cpu").truncated.tolist() == [False, True]


def test_snapshot_bootstraps_with_the_policys_value_of_the_final_states():
    from scratchlab.rl.config import RLConfig
    from scratchlab.rl.nets import AACPolicyNet
    from scratchlab.rl.update import snapshot

    torch.manual_seed(0)
    policy = AACPolicyNet(2, 2, hidden=(8,))
    cut = Episode(np.random.default_rng(0).normal(size=(3, 2)).astype(np.float32),
                  np.zeros(3, int), np.array(GAE_REWARDS), final_state=np.ones(2, np.float32))
    batch = TrainBatch.from_episodes([cut], gamma=0.9)
    config = RLConfig(method="aac", gamma=0.9, gae_lambda=0.5)
    out = snapshot(policy, batch, config)
    with torch.no_grad():
        values, final = policy(batch.states)[1], policy(batch.final_states)[1]
    expected = gae_advantages(np.array(GAE_REWARDS), values.double().numpy(), 0.9, 0.5,
                              last_value=float(final[0]))
    np.testing.assert_allclose(out.advantages.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert abs(float(final[0])) > 1e-4  # the bootstrap term is not zero here
