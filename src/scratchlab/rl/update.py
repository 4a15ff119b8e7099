"""A run's network and losses, what a batch of episodes becomes before its gradient steps
(advantages, old log-probabilities, minibatches), and one gradient step."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from scratchlab.errors import TrainingDivergedError
from scratchlab.rl.config import RLConfig
from scratchlab.rl.episodes import TrainBatch
from scratchlab.rl.losses import (
    ActionEntropyLoss,
    action_scores_of,
    method_losses,
    selected_log_probs,
)
from scratchlab.rl.nets import AACPolicyNet, PolicyNet, build_policy_net


def policy_for(config: RLConfig, obs_dim: int, n_actions: int) -> PolicyNet | AACPolicyNet:
    """The network `config` trains, freshly initialised."""
    return build_policy_net(
        config.method, obs_dim, n_actions, config.hidden, config.activation, config.shared_body
    )


def losses_for(config: RLConfig, n_actions: int) -> list[nn.Module]:
    """The losses `config.method` sums, with the config's weights."""
    c = config
    return method_losses(c.method, n_actions, c.beta, c.delta, c.normalize_advantages, c.clip_range)


def needs_snapshot(config: RLConfig) -> bool:
    """Whether aac's advantages (and old log-probabilities) are taken before the update."""
    several = config.minibatches > 1 or config.epochs > 1
    special = config.gae_lambda < 1.0 or config.clip_range is not None
    return config.method == "aac" and (several or special)


@torch.no_grad()
def snapshot(policy: nn.Module, batch: TrainBatch, config: RLConfig) -> TrainBatch:
    """The batch with GAE advantages, lambda-return targets and the policy's current log-probs."""
    scores, values = policy(batch.states)
    final_values = None if batch.final_states is None else policy(batch.final_states)[1]
    batch = batch.with_gae(values, config.gamma, config.gae_lambda, final_values)
    batch.old_log_probs = selected_log_probs(batch, scores)
    return batch


def minibatches(batch: TrainBatch, config: RLConfig) -> Iterator[TrainBatch]:
    """`config.epochs` passes over the batch, each shuffled and cut into `config.minibatches`."""
    if config.minibatches == 1 and config.epochs == 1:
        yield batch
        return
    for _ in range(config.epochs):
        order = torch.randperm(len(batch), device=batch.states.device)
        for part in order.chunk(config.minibatches):
            yield batch.subset(part)


def gradient_step(
    policy: nn.Module,
    optimizer: torch.optim.Optimizer,
    losses: list[nn.Module],
    batch: TrainBatch,
    config: RLConfig,
    batch_index: int = 0,
) -> dict[str, float]:
    """One Adam step on the sum of `losses`; returns their parts, `loss` (the sum), `entropy`
    (normalised) and, for an actor-critic, `baseline` (the mean state value)."""
    output = policy(batch.states)
    total = torch.zeros((), device=batch.states.device)
    parts: dict[str, float] = {}
    for loss_fn in losses:
        loss, loss_parts = loss_fn(batch, output)
        total = total + loss
        parts.update(loss_parts)
    if not torch.isfinite(total):
        raise TrainingDivergedError(
            f"the loss became {total.item()} at batch {batch_index}; lower the learning rate "
            f"(was {config.learning_rate}); the last checkpoint is kept"
        )
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    if config.max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
    optimizer.step()
    parts["loss"] = total.item()
    with torch.no_grad():
        scores = action_scores_of(output)
        if "entropy" not in parts:
            entropy = ActionEntropyLoss(scores.shape[-1], beta=0.0)
            parts["entropy"] = entropy(batch, scores)[1]["entropy"]
        if isinstance(output, tuple):
            parts["baseline"] = output[1].mean().item()
    return parts
