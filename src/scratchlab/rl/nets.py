"""Policy networks: observation -> action logits, and a shared-body actor-critic."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from scratchlab.errors import ConfigError, ShapeError

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU}


def mlp_body(in_features: int, hidden: Sequence[int], activation: str = "relu") -> nn.Sequential:
    """Linear + activation for each hidden width (an empty `hidden` is the identity)."""
    if activation not in ACTIVATIONS:
        raise ConfigError(f"unknown activation {activation!r}; use one of {sorted(ACTIVATIONS)}")
    if any(h <= 0 for h in hidden):
        raise ConfigError(f"hidden widths must be positive, got {list(hidden)}")
    layers: list[nn.Module] = []
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), ACTIVATIONS[activation]()]
        width = h
    return nn.Sequential(*layers)


def _check_input(x: torch.Tensor, in_features: int) -> None:
    if x.shape[-1] != in_features:
        raise ShapeError(
            f"policy expects observations with {in_features} features, got shape {tuple(x.shape)}; "
            "use a network built for this environment"
        )


class PolicyNet(nn.Module):
    """An MLP from an observation to one logit (action score) per discrete action."""

    def __init__(
        self,
        in_features: int,
        n_actions: int,
        hidden: Sequence[int] = (128,),
        activation: str = "relu",
    ):
        super().__init__()
        self.in_features, self.n_actions = in_features, n_actions
        self.body = mlp_body(in_features, hidden, activation)
        self.head = nn.Linear(hidden[-1] if hidden else in_features, n_actions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Action scores, shape (..., n_actions)."""
        _check_input(x, self.in_features)
        return self.head(self.body(x))

    def action_scores(self, x: torch.Tensor) -> torch.Tensor:
        """Action scores, shape (..., n_actions)."""
        return self(x)


class AACPolicyNet(nn.Module):
    """An actor-critic MLP: a body, a policy head (action scores) and a state-value head.

    With `shared=False` the value head has a body of its own (same widths): the value regression
    then cannot disturb the policy's features.
    """

    def __init__(
        self,
        in_features: int,
        n_actions: int,
        hidden: Sequence[int] = (128,),
        activation: str = "relu",
        shared: bool = True,
    ):
        super().__init__()
        self.in_features, self.n_actions = in_features, n_actions
        width = hidden[-1] if hidden else in_features
        self.body = mlp_body(in_features, hidden, activation)
        self.value_body = None if shared else mlp_body(in_features, hidden, activation)
        self.policy_head = nn.Linear(width, n_actions)
        self.value_head = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Action scores, shape (..., n_actions), and state values, shape (...)."""
        _check_input(x, self.in_features)
        features = self.body(x)
        value_features = features if self.value_body is None else self.value_body(x)
        return self.policy_head(features), self.value_head(value_features).squeeze(-1)

    def action_scores(self, x: torch.Tensor) -> torch.Tensor:
        """Action scores only, shape (..., n_actions)."""
        _check_input(x, self.in_features)
        return self.policy_head(self.body(x))


def build_policy_net(
    method: str,
    in_features: int,
    n_actions: int,
    hidden: Sequence[int],
    activation: str = "relu",
    shared: bool = True,
) -> PolicyNet | AACPolicyNet:
    """The network a method trains: `AACPolicyNet` for `aac` (body `shared` or not),
    `PolicyNet` otherwise."""
    if method == "aac":
        return AACPolicyNet(in_features, n_actions, tuple(hidden), activation, shared)
    return PolicyNet(in_features, n_actions, tuple(hidden), activation)
