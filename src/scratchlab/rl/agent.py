"""An agent that picks actions from a policy network, by sampling or greedily."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from scratchlab.util import resolve_device


class PolicyAgent:
    """Acts with a policy network: samples from softmax(scores), or takes the argmax when greedy.

    Sampling draws from `generator` when given, else from torch's global RNG.
    """

    def __init__(
        self,
        policy: nn.Module,
        device: str | torch.device = "cpu",
        greedy: bool = False,
        generator: torch.Generator | None = None,
    ):
        self.policy = policy
        self.device = resolve_device(device)
        self.greedy = greedy
        self.generator = generator

    @torch.no_grad()
    def action_distribution(self, states: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Action probabilities for a batch of states, shape (B, n_actions)."""
        x = torch.as_tensor(np.asarray(states, dtype=np.float32), device=self.device)
        return torch.softmax(self.policy.action_scores(x), dim=-1)

    @torch.no_grad()
    def act(self, states: np.ndarray) -> np.ndarray:
        """One action index per state in the batch `states` (B, obs_dim); shape (B,)."""
        x = torch.as_tensor(np.asarray(states, dtype=np.float32), device=self.device)
        scores = self.policy.action_scores(x)
        if self.greedy:
            actions = scores.argmax(dim=-1)
        else:
            # Inverse-CDF sampling: cheaper than torch.multinomial for a few actions.
            cdf = torch.softmax(scores, dim=-1).cumsum(dim=-1)[..., :-1]
            uniform = torch.rand((*cdf.shape[:-1], 1), device=cdf.device, generator=self.generator)
            actions = (uniform > cdf).sum(dim=-1)
        return actions.cpu().numpy()
