"""Experience: run whole episodes of a gymnasium environment with a `PolicyAgent`.

Three backends run the same episodes (same seeds, same actions for a greedy policy):

- `vector`: one `gymnasium.vector.SyncVectorEnv` with one sub-environment per episode, stepped in
  lock-step with one batched forward pass of the policy per step (a sub-environment whose episode
  has ended keeps being stepped until the longest episode ends);
- `batched`: a list of environments, one per episode, one batched forward pass per step, and only
  the environments whose episode is still running are stepped;
- `serial`: one environment, episodes one after another, one forward pass per step.

Every episode starts from `reset(seed=...)` with a seed derived from the run seed and the
episode's index, so a run can be resumed exactly from a checkpoint taken between batches.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from scratchlab.errors import ConfigError, MissingDependencyError, require
from scratchlab.rl.agent import PolicyAgent
from scratchlab.rl.episodes import Episode

BACKENDS = ("vector", "batched", "serial")
EVAL_STREAM = 2**31 - 1
"""Seed-stream tag that keeps evaluation episodes apart from training episodes."""


def gym():
    """The gymnasium module, or a `MissingDependencyError` naming the `rl` extra."""
    return require("gymnasium", "rl")


def make_env(env_id: str, render_mode: str | None = None, **kwargs: Any):
    """`gymnasium.make(env_id)`, with user errors (unknown id, missing Box2D) as
    ScratchlabErrors."""
    if render_mode is not None:
        # Render off-screen: no display is needed (or wanted) to draw rgb_array frames.
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    gymnasium = gym()
    try:
        return gymnasium.make(env_id, render_mode=render_mode, **kwargs)
    except gymnasium.error.DependencyNotInstalled as exc:
        raise MissingDependencyError(
            f"{env_id} needs a package that is not installed ({exc}); install it with: "
            "pip install 'scratchlab[rl]'"
        ) from None
    except gymnasium.error.Error as exc:
        raise ConfigError(f"cannot make environment {env_id!r}: {exc}") from None


def env_spaces(env) -> tuple[int, int]:
    """(observation features, number of actions) of an env with a flat Box/Discrete interface."""
    spaces = gym().spaces
    obs, act = env.observation_space, env.action_space
    if not isinstance(act, spaces.Discrete):
        raise ConfigError(
            f"policy-gradient agents here need discrete actions; {env.spec.id} has {act}"
        )
    if not isinstance(obs, spaces.Box) or len(obs.shape) != 1:
        raise ConfigError(
            f"policy networks here need flat Box observations; {env.spec.id} has {obs}"
        )
    return int(obs.shape[0]), int(act.n)


def episode_seeds(seed: int, first: int, count: int, stream: int = 0) -> list[int]:
    """Reset seeds of episodes `first .. first+count-1` of run `seed` (independent per episode)."""
    return [
        int(np.random.SeedSequence([seed, stream, index]).generate_state(1)[0])
        for index in range(first, first + count)
    ]


def _split(states, actions, rewards, alive: np.ndarray,
           finals: dict[int, np.ndarray]) -> list[Episode]:
    """Cut lock-step buffers (T, n, ...) into one episode per column, keeping live steps only;
    `finals`: the observation each truncated column was cut off in."""
    return [
        Episode(
            states=states[alive[:, i], i],
            actions=actions[alive[:, i], i],
            rewards=rewards[alive[:, i], i],
            final_state=finals.get(i),
        )
        for i in range(alive.shape[1])
    ]


def cut_off(terminated: Any, truncated: Any) -> Any:
    """Whether a step ended its episode by a time limit alone (bools or bool arrays)."""
    return np.logical_and(truncated, np.logical_not(terminated))


class EpisodeRunner:
    """Runs whole episodes of `env_id` for given reset seeds, `num_envs` at a time (one if
    serial). `max_episode_steps`: a time limit of its own (default: the environment's). An
    episode a time limit cuts off keeps the observation it stopped in (`Episode.final_state`)."""

    def __init__(self, env_id: str, num_envs: int = 8, backend: str = "batched",
                 max_episode_steps: int | None = None):
        if backend not in BACKENDS:
            raise ConfigError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
        if num_envs < 1:
            raise ConfigError(f"num_envs must be at least 1, got {num_envs}")
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ConfigError(f"max_episode_steps must be at least 1, got {max_episode_steps}")
        limit = {} if max_episode_steps is None else {"max_episode_steps": max_episode_steps}
        self.env_id, self.backend = env_id, backend
        self.num_envs = 1 if backend == "serial" else num_envs
        self.envs = [make_env(env_id, **limit)]
        self.obs_dim, self.n_actions = env_spaces(self.envs[0])
        self.vec_env = None
        if backend == "vector":
            self.envs.pop().close()
            self.vec_env = gym().vector.SyncVectorEnv(
                [lambda: make_env(env_id, **limit)] * self.num_envs)
        else:
            self.envs += [make_env(env_id, **limit) for _ in range(self.num_envs - 1)]

    def run(self, agent: PolicyAgent, seeds: Sequence[int]) -> list[Episode]:
        """One episode per seed, in the order of `seeds`."""
        episodes: list[Episode] = []
        for start in range(0, len(seeds), self.num_envs):
            chunk = list(seeds[start : start + self.num_envs])
            run = {
                "vector": self._run_vector,
                "batched": self._run_batched,
                "serial": self._run_serial,
            }
            episodes += run[self.backend](agent, chunk)
        return episodes

    def _run_vector(self, agent: PolicyAgent, seeds: list[int]) -> list[Episode]:
        n = len(seeds)
        # Sub-environments beyond the chunk get seeds too; their steps are never recorded.
        padded = seeds + [0] * (self.num_envs - n)
        obs, _ = self.vec_env.reset(seed=padded)
        alive = np.zeros(self.num_envs, dtype=bool)
        alive[:n] = True
        obs_buf, act_buf, rew_buf, alive_buf, finals = [], [], [], [], {}
        while alive.any():
            actions = agent.act(obs)
            next_obs, rewards, terminated, truncated, _ = self.vec_env.step(actions)
            obs_buf.append(obs)
            act_buf.append(actions)
            rew_buf.append(rewards)
            alive_buf.append(alive.copy())
            # the step that ends an episode returns its last observation (reset on the next step)
            finals |= {i: next_obs[i].copy() for i in
                       np.flatnonzero(alive & cut_off(terminated, truncated))}
            alive &= ~(terminated | truncated)
            obs = next_obs
        buffers = (np.stack(obs_buf), np.stack(act_buf), np.stack(rew_buf), np.stack(alive_buf))
        return _split(*buffers, finals)[:n]

    def _run_batched(self, agent: PolicyAgent, seeds: list[int]) -> list[Episode]:
        envs = self.envs[: len(seeds)]
        obs = np.stack([env.reset(seed=seed)[0] for env, seed in zip(envs, seeds, strict=True)])
        alive = np.ones(len(envs), dtype=bool)
        obs_buf, act_buf, rew_buf, alive_buf, finals = [], [], [], [], {}
        while alive.any():
            actions = agent.act(obs)  # rows of ended episodes are acted on but never stepped
            next_obs, rewards = obs.copy(), np.zeros(len(envs))
            obs_buf.append(obs)
            act_buf.append(actions)
            rew_buf.append(rewards)
            alive_buf.append(alive.copy())
            for i in np.flatnonzero(alive):
                next_obs[i], rewards[i], terminated, truncated, _ = envs[i].step(actions[i])
                alive[i] = not (terminated or truncated)
                if cut_off(terminated, truncated):
                    finals[i] = next_obs[i].copy()
            obs = next_obs
        buffers = (np.stack(obs_buf), np.stack(act_buf), np.stack(rew_buf), np.stack(alive_buf))
        return _split(*buffers, finals)

    def _run_serial(self, agent: PolicyAgent, seeds: list[int]) -> list[Episode]:
        env = self.envs[0]
        episodes = []
        for seed in seeds:
            obs, _ = env.reset(seed=seed)
            states, actions, rewards = [], [], []
            done = final = False
            while not done:
                action = int(agent.act(obs[None])[0])
                next_obs, reward, terminated, truncated, _ = env.step(action)
                states.append(obs)
                actions.append(action)
                rewards.append(reward)
                done, final = terminated or truncated, cut_off(terminated, truncated)
                obs = next_obs
            episodes.append(Episode(np.stack(states), np.array(actions),
                                    np.array(rewards, dtype=np.float64),
                                    obs.copy() if final else None))
        return episodes

    def close(self) -> None:
        """Close the environments."""
        for env in [self.vec_env, *self.envs]:
            if env is not None:
                env.close()


def evaluate_returns(
    policy: torch.nn.Module,
    runner: EpisodeRunner,
    episodes: int,
    seed: int,
    greedy: bool = True,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Total rewards of `episodes` evaluation episodes, shape (episodes,).

    The episodes come from their own seed stream; sampled actions from a generator seeded by `seed`,
    so evaluating leaves the global RNGs untouched and gives the same numbers every time.
    """
    generator = None if greedy else torch.Generator(device=device).manual_seed(seed)
    agent = PolicyAgent(policy, device, greedy=greedy, generator=generator)
    seeds = episode_seeds(seed, 0, episodes, stream=EVAL_STREAM)
    return np.array([ep.total_reward for ep in runner.run(agent, seeds)])
