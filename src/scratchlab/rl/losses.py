"""Policy-gradient losses. Each returns `(loss, parts)`, parts being floats for logging.

A loss is called with a `TrainBatch` and the model output on `batch.states`: the action scores,
or `(action_scores, state_values)` from an `AACPolicyNet`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from scratchlab.errors import ConfigError
from scratchlab.rl.episodes import TrainBatch

ModelOutput = torch.Tensor | tuple[torch.Tensor, torch.Tensor]
LossResult = tuple[torch.Tensor, dict[str, float]]


def action_scores_of(output: ModelOutput) -> torch.Tensor:
    """The action scores of a model output (a tensor, or the first element of a pair)."""
    return output[0] if isinstance(output, tuple) else output


def selected_log_probs(batch: TrainBatch, action_scores: torch.Tensor) -> torch.Tensor:
    """log pi(a_t | s_t) of the actions taken, shape (N,)."""
    log_probs = F.log_softmax(action_scores, dim=-1)
    return log_probs.gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)


def normalized(advantage: torch.Tensor) -> torch.Tensor:
    """`(a - mean(a)) / (std(a) + 1e-8)`; a single value becomes 0."""
    if advantage.numel() < 2:
        return advantage - advantage.mean()
    return (advantage - advantage.mean()) / (advantage.std() + 1e-8)


class VanillaPolicyGradientLoss(nn.Module):
    """REINFORCE: `-mean(q_t * log pi(a_t|s_t))` over every step of the batch."""

    def forward(self, batch: TrainBatch, output: ModelOutput) -> LossResult:
        """The loss and `{"policy_loss"}`."""
        loss_p = -(batch.q_vals * selected_log_probs(batch, action_scores_of(output))).mean()
        return loss_p, {"policy_loss": loss_p.item()}


class BaselinePolicyGradientLoss(nn.Module):
    """REINFORCE with the batch's mean q-value as baseline: `-mean((q_t - b) * log pi)`.

    With `normalize`, the advantages `q_t - b` are also divided by their standard deviation.
    """

    def __init__(self, normalize: bool = False):
        super().__init__()
        self.normalize = normalize

    def forward(self, batch: TrainBatch, output: ModelOutput) -> LossResult:
        """The loss and `{"policy_loss", "baseline"}`."""
        baseline = batch.q_vals.mean()
        advantage = batch.q_vals - baseline
        if self.normalize:
            advantage = normalized(advantage)
        loss_p = -(advantage * selected_log_probs(batch, action_scores_of(output))).mean()
        return loss_p, {"policy_loss": loss_p.item(), "baseline": baseline.item()}


class ActionEntropyLoss(nn.Module):
    """Entropy bonus `-beta * mean(H(pi(.|s))) / log|A|`; the normalised entropy lies in [0, 1]."""

    def __init__(self, n_actions: int, beta: float = 1.0):
        super().__init__()
        if n_actions < 2:
            raise ConfigError(f"an entropy bonus needs at least 2 actions, got {n_actions}")
        self.n_actions, self.beta = n_actions, beta
        self.max_entropy = self.calc_max_entropy(n_actions)

    @staticmethod
    def calc_max_entropy(n_actions: int) -> float:
        """Entropy of the uniform distribution over `n_actions` (nats)."""
        return math.log(n_actions)

    def forward(self, batch: TrainBatch, output: ModelOutput) -> LossResult:
        """The loss and `{"entropy_loss", "entropy"}` (entropy normalised to [0, 1])."""
        log_probs = F.log_softmax(action_scores_of(output), dim=-1)
        entropy = -(log_probs.exp() * log_probs).sum(-1).mean() / self.max_entropy
        loss_e = -self.beta * entropy
        return loss_e, {"entropy_loss": loss_e.item(), "entropy": entropy.item()}


class AACPolicyGradientLoss(nn.Module):
    """Actor-critic: policy loss with advantage `q - V(s)` (detached) plus `delta * MSE(V, q)`.

    A batch that carries `advantages` (GAE, computed before the update) uses them instead of
    `q - V(s)`; its `q_vals` are then the lambda-returns. With `normalize`, the advantages are
    standardised over the batch. With `clip_range` c (and the batch's `old_log_probs`), the
    policy term is PPO's `-mean(min(rho A, clip(rho, 1 - c, 1 + c) A))`, `rho = pi / pi_old`.
    """

    def __init__(
        self, delta: float = 1.0, normalize: bool = False, clip_range: float | None = None
    ):
        super().__init__()
        self.delta, self.normalize, self.clip_range = delta, normalize, clip_range

    def forward(self, batch: TrainBatch, output: ModelOutput) -> LossResult:
        """The loss and `{"policy_loss", "value_loss", "advantage"}`."""
        if not isinstance(output, tuple):
            raise ConfigError(
                "the aac loss needs (action_scores, state_values); train an AACPolicyNet"
            )
        action_scores, state_values = output
        if batch.advantages is not None:
            advantage = batch.advantages
        else:
            advantage = batch.q_vals - state_values.detach()
        raw_mean = advantage.mean().item()
        if self.normalize:
            advantage = normalized(advantage)
        log_probs = selected_log_probs(batch, action_scores)
        if self.clip_range is None:
            loss_p = -(advantage * log_probs).mean()
        else:
            if batch.old_log_probs is None:
                raise ConfigError("a clipped ratio needs the batch's old_log_probs")
            ratio = (log_probs - batch.old_log_probs).exp()
            clipped = ratio.clamp(1.0 - self.clip_range, 1.0 + self.clip_range)
            loss_p = -torch.minimum(ratio * advantage, clipped * advantage).mean()
        loss_v = F.mse_loss(state_values, batch.q_vals)
        parts = {"policy_loss": loss_p.item(), "value_loss": loss_v.item(), "advantage": raw_mean}
        return loss_p + self.delta * loss_v, parts


METHODS = ("vpg", "bpg", "epg", "cpg", "aac")
"""vanilla, baseline, entropy, combined (baseline + entropy), advantage actor-critic."""


def method_losses(
    method: str,
    n_actions: int,
    beta: float,
    delta: float,
    normalize: bool = False,
    clip_range: float | None = None,
) -> list[nn.Module]:
    """The losses a method sums: e.g. `cpg` = baseline policy gradient + entropy bonus.

    `normalize` standardises the advantages of the methods that have one (bpg, cpg, aac);
    `clip_range` clips aac's probability ratio.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    policy: nn.Module = {
        "vpg": VanillaPolicyGradientLoss,
        "epg": VanillaPolicyGradientLoss,
        "bpg": lambda: BaselinePolicyGradientLoss(normalize),
        "cpg": lambda: BaselinePolicyGradientLoss(normalize),
        "aac": lambda: AACPolicyGradientLoss(delta, normalize, clip_range),
    }[method]()
    if method in ("epg", "cpg", "aac"):
        return [policy, ActionEntropyLoss(n_actions, beta)]
    return [policy]
