"""Episodes, discounted returns and training batches of several episodes."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.signal import lfilter

from scratchlab.errors import ConfigError


def discounted_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """Return-to-go `q_t = sum_k gamma^k r_{t+k}` of every step of one episode (vectorised)."""
    if not 0.0 <= gamma <= 1.0:
        raise ConfigError(f"discount gamma={gamma} is outside [0, 1]; pick a value such as 0.99")
    rewards = np.asarray(rewards, dtype=np.float64)
    if rewards.size == 0:
        return rewards.copy()
    # q_t = r_t + gamma * q_{t+1} is a first-order IIR filter run over the reversed rewards.
    return lfilter([1.0], [1.0, -gamma], rewards[::-1])[::-1].copy()


def gae_advantages(rewards: np.ndarray, values: np.ndarray, gamma: float, lam: float,
                   last_value: float = 0.0) -> np.ndarray:
    """Generalised advantage estimates of one episode.

    `A_t = sum_k (gamma lam)^k d_{t+k}` with `d_t = r_t + gamma V(s_{t+1}) - V(s_t)`; after the
    last step `V = last_value`: 0 when the episode ended (terminated), the value of the state it
    was cut off in when a time limit truncated it. `lam = 1` gives `q_t - V(s_t)` (with the
    return bootstrapped from `last_value`), `lam = 0` the one-step TD error.
    """
    if not 0.0 <= lam <= 1.0:
        raise ConfigError(f"gae_lambda={lam} is outside [0, 1]; pick a value such as 0.95")
    rewards = np.asarray(rewards, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    next_values = np.append(values[1:], float(last_value))
    deltas = rewards + gamma * next_values - values
    return discounted_returns(deltas, gamma * lam)


@dataclass
class Episode:
    """One finished episode: the states it visited, the actions taken and the rewards received."""

    states: np.ndarray
    """Observations, shape (T, obs_dim)."""
    actions: np.ndarray
    """Action indices, shape (T,)."""
    rewards: np.ndarray
    """Rewards, shape (T,)."""
    final_state: np.ndarray | None = None
    """The observation after the last step when a time limit cut the episode off (truncated,
    not terminated): its value bootstraps the advantages (`TrainBatch.with_gae`); else None."""

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def total_reward(self) -> float:
        """Undiscounted sum of the episode's rewards."""
        return float(np.sum(self.rewards))

    def calc_qvals(self, gamma: float) -> np.ndarray:
        """Discounted return from each step to the end of the episode, shape (T,)."""
        return discounted_returns(self.rewards, gamma)


@dataclass
class TrainBatch:
    """The steps of several episodes, concatenated, ready for a loss."""

    states: torch.Tensor
    """Observations, shape (N, obs_dim), float32."""
    actions: torch.Tensor
    """Action indices, shape (N,), int64."""
    q_vals: torch.Tensor
    """Discounted return-to-go of every step, shape (N,), float32."""
    total_rewards: torch.Tensor
    """Undiscounted total reward of each episode, shape (num_episodes,)."""
    rewards: torch.Tensor | None = None
    """Rewards (times `reward_scale`) of every step, shape (N,), float32 (None in a minibatch)."""
    lengths: tuple[int, ...] = ()
    """Steps of each episode, in order (empty in a minibatch)."""
    advantages: torch.Tensor | None = None
    """Advantages computed before the update (GAE), shape (N,); None: the loss computes them."""
    old_log_probs: torch.Tensor | None = None
    """log pi(a_t|s_t) before the update, shape (N,) (for a clipped probability ratio)."""
    final_states: torch.Tensor | None = None
    """Per episode the observation it was cut off in (zeros where it terminated), shape
    (num_episodes, obs_dim); None when no episode of the batch was truncated."""
    truncated: torch.Tensor | None = None
    """Per episode whether a time limit cut it off, shape (num_episodes,), bool (or None)."""

    def __len__(self) -> int:
        return self.actions.shape[0]

    @property
    def num_episodes(self) -> int:
        """How many episodes the batch holds."""
        return self.total_rewards.shape[0]

    def to(self, device: torch.device | str) -> TrainBatch:
        """The same batch on `device`."""
        tensors = {
            f.name: None if getattr(self, f.name) is None else getattr(self, f.name).to(device)
            for f in dataclasses.fields(self)
            if f.name != "lengths"
        }
        return TrainBatch(**tensors, lengths=self.lengths)

    def subset(self, index: torch.Tensor) -> TrainBatch:
        """The steps `index` (a minibatch): episode structure is dropped."""
        return TrainBatch(
            states=self.states[index],
            actions=self.actions[index],
            q_vals=self.q_vals[index],
            total_rewards=self.total_rewards,
            advantages=None if self.advantages is None else self.advantages[index],
            old_log_probs=None if self.old_log_probs is None else self.old_log_probs[index],
        )

    def with_gae(self, values: torch.Tensor, gamma: float, lam: float,
                 final_values: torch.Tensor | None = None) -> TrainBatch:
        """The batch with GAE `advantages` from the state values `values` (N,) and, as value
        targets, `q_vals` = advantages + values (the lambda-returns). `final_values`
        (num_episodes,): the values of `final_states`, bootstrapping the truncated episodes."""
        if self.rewards is None or sum(self.lengths) != len(self):
            raise ConfigError("GAE needs whole episodes: compute it before splitting the batch")
        v = values.detach().cpu().double().numpy()
        r = self.rewards.cpu().double().numpy()
        last = np.zeros(len(self.lengths))
        if final_values is not None and self.truncated is not None:
            cut = self.truncated.cpu().numpy()
            last[cut] = final_values.detach().cpu().double().numpy()[cut]
        ends = np.cumsum(self.lengths)
        adv = np.concatenate(
            [
                gae_advantages(r[end - n : end], v[end - n : end], gamma, lam, tail)
                for n, end, tail in zip(self.lengths, ends, last, strict=True)
            ]
        )
        device = self.q_vals.device
        return dataclasses.replace(
            self,
            advantages=torch.from_numpy(adv.astype(np.float32)).to(device),
            q_vals=torch.from_numpy((adv + v).astype(np.float32)).to(device),
        )

    @classmethod
    def from_episodes(
        cls, episodes: Sequence[Episode], gamma: float, reward_scale: float = 1.0
    ) -> TrainBatch:
        """Concatenate `episodes`; q-values come from rewards multiplied by `reward_scale`."""
        if not episodes:
            raise ConfigError(
                "a training batch needs at least one episode; raise episodes_per_batch"
            )
        states = np.concatenate([ep.states for ep in episodes]).astype(np.float32, copy=False)
        actions = np.concatenate([ep.actions for ep in episodes]).astype(np.int64, copy=False)
        q_vals = np.concatenate([ep.calc_qvals(gamma) * reward_scale for ep in episodes])
        rewards = np.concatenate([ep.rewards * reward_scale for ep in episodes])
        totals = np.array([ep.total_reward for ep in episodes], dtype=np.float32)
        truncated = np.array([ep.final_state is not None for ep in episodes])
        finals = None
        if truncated.any():
            finals = np.zeros((len(episodes), states.shape[1]), np.float32)
            for i in np.flatnonzero(truncated):
                finals[i] = episodes[i].final_state
        return cls(
            states=torch.from_numpy(np.ascontiguousarray(states)),
            actions=torch.from_numpy(np.ascontiguousarray(actions)),
            q_vals=torch.from_numpy(q_vals.astype(np.float32)),
            total_rewards=torch.from_numpy(totals),
            rewards=torch.from_numpy(rewards.astype(np.float32)),
            lengths=tuple(len(ep) for ep in episodes),
            final_states=None if finals is None else torch.from_numpy(finals),
            truncated=torch.from_numpy(truncated) if finals is not None else None,
        )
