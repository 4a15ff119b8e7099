"""Running episodes of a real gymnasium environment with both backends."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("gymnasium", reason="gymnasium is not installed (pip install 'scratchlab[rl]')")

from scratchlab.errors import ConfigError
from scratchlab.rl.agent import PolicyAgent
from scratchlab.rl.experience import EpisodeRunner, episode_seeds, evaluate_returns, make_env
from scratchlab.rl.nets import PolicyNet


def test_all_backends_run_the_same_episodes():
    torch.manual_seed(0)
    net = PolicyNet(4, 2, hidden=(8,))
    seeds = episode_seeds(3, 0, 5)
    runs = {}
    for backend in ("vector", "batched", "serial"):
        runner = EpisodeRunner("CartPole-v1", num_envs=3, backend=backend)
        runs[backend] = runner.run(PolicyAgent(net, greedy=True), seeds)
        runner.close()
    for backend in ("vector", "batched"):
        assert len(runs[backend]) == len(runs["serial"]) == 5
        for a, b in zip(runs[backend], runs["serial"], strict=True):
            np.testing.assert_array_equal(a.states, b.states)
            np.testing.assert_array_equal(a.actions, b.actions)
            np.testing.assert_array_equal(a.rewards, b.rewards)
            assert len(a) == a.total_reward  # CartPole pays 1 per step until the end


def test_episode_starts_from_its_seeded_reset():
    env = make_env("CartPole-v1")
    seed = episode_seeds(0, 7, 1)[0]
    first_obs, _ = env.reset(seed=seed)
    runner = EpisodeRunner("CartPole-v1", num_envs=2)
    episode = runner.run(PolicyAgent(PolicyNet(4, 2, hidden=(8,))), [seed])[0]
    np.testing.assert_array_equal(episode.states[0], first_obs)
    runner.close()


def test_seeds_are_distinct_and_reproducible():
    assert episode_seeds(0, 0, 4) == episode_seeds(0, 0, 4)
    assert len(set(episode_seeds(0, 0, 50) + episode_seeds(1, 0, 50))) == 100
    assert episode_seeds(0, 2, 2) == episode_seeds(0, 0, 4)[2:]


def test_bad_environment_and_backend_are_user_errors():
    with pytest.raises(ConfigError):
        make_env("NoSuchEnv-v0")
    with pytest.raises(ConfigError):
        EpisodeRunner("CartPole-v1", backend="threads")
    with pytest.raises(ConfigError):
        EpisodeRunner("Pendulum-v1")  # continuous actions


def test_sampled_evaluation_is_repeatable_and_leaves_global_rng_alone():
    torch.manual_seed(0)
    net = PolicyNet(4, 2, hidden=(8,))
    runner = EpisodeRunner("CartPole-v1", num_envs=4)
    state = torch.get_rng_state()
    first = evaluate_returns(net, runner, 6, seed=5, greedy=False)
    second = evaluate_returns(net, runner, 6, seed=5, greedy=False)
    assert torch.equal(torch.get_rng_state(), state)
    np.testing.assert_array_equal(first, second)
    runner.close()


@pytest.mark.parametrize("backend", ["vector", "batched", "serial"])
def test_a_time_limit_keeps_the_state_each_episode_was_cut_off_in(backend):
    net = PolicyNet(4, 2, hidden=(8,))
    seeds = episode_seeds(5, 0, 3)
    runner = EpisodeRunner("CartPole-v1", num_envs=2, backend=backend, max_episode_steps=4)
    episodes = runner.run(PolicyAgent(net, greedy=True), seeds)
    runner.close()
    env = make_env("CartPole-v1", max_episode_steps=4)
    for seed, episode in zip(seeds, episodes, strict=True):
        obs, _ = env.reset(seed=seed)
        for action in episode.actions:
            obs, _, terminated, truncated, _ = env.step(int(action))
        assert len(episode) == 4 and truncated and not terminated  # too short to fall over
        np.testing.assert_array_equal(episode.final_state, obs)
    full = EpisodeRunner("CartPole-v1", num_envs=2, backend=backend)
    assert all(ep.final_state is None for ep in full.run(PolicyAgent(net, greedy=True), seeds))
    full.close()
    with pytest.raises(ConfigError):
        EpisodeRunner("CartPole-v1", max_episode_steps=0)
