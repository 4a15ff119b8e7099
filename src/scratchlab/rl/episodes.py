"""Episodes, discounted returns and training batches of several episodes."""

from __future__ import annotations

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


@dataclass
class Episode:
    """One finished episode: the states it visited, the actions taken and the rewards received."""

    states: np.ndarray
    """Observations, shape (T, obs_dim)."""
    actions: np.ndarray
    """Action indices, shape (T,)."""
    rewards: np.ndarray
    """Rewards, shape (T,)."""

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

    def __len__(self) -> int:
        return self.actions.shape[0]

    @property
    def num_episodes(self) -> int:
        """How many episodes the batch holds."""
        return self.total_rewards.shape[0]

    def to(self, device: torch.device | str) -> TrainBatch:
        """The same batch on `device`."""
        return TrainBatch(
            *(t.to(device) for t in (self.states, self.actions, self.q_vals, self.total_rewards))
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
        totals = np.array([ep.total_reward for ep in episodes], dtype=np.float32)
        return cls(
            states=torch.from_numpy(np.ascontiguousarray(states)),
            actions=torch.from_numpy(np.ascontiguousarray(actions)),
            q_vals=torch.from_numpy(q_vals.astype(np.float32)),
            total_rewards=torch.from_numpy(totals),
        )
