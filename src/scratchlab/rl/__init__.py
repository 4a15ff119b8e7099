"""Policy-gradient reinforcement learning on gymnasium: REINFORCE variants and actor-critic.

Methods: `vpg` (vanilla), `bpg` (mean-return baseline), `epg` (entropy bonus), `cpg` (baseline +
entropy) and `aac` (advantage actor-critic). gymnasium comes with the optional extra
`scratchlab[rl]`; it is imported only when an environment is made. The names below load on first
use, so `scratchlab.rl.commands` (the CLI) stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PolicyAgent": "agent",
    "PRESETS": "config",
    "RLConfig": "config",
    "preset_config": "config",
    "Episode": "episodes",
    "TrainBatch": "episodes",
    "discounted_returns": "episodes",
    "EpisodeRunner": "experience",
    "episode_seeds": "experience",
    "evaluate_returns": "experience",
    "make_env": "experience",
    "METHODS": "losses",
    "AACPolicyGradientLoss": "losses",
    "ActionEntropyLoss": "losses",
    "BaselinePolicyGradientLoss": "losses",
    "VanillaPolicyGradientLoss": "losses",
    "method_losses": "losses",
    "AACPolicyNet": "nets",
    "PolicyNet": "nets",
    "build_policy_net": "nets",
    "evaluate_checkpoint": "play",
    "play": "play",
    "PolicyTrainer": "trainer",
    "train": "trainer",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'scratchlab.rl' has no attribute {name!r}")
    return getattr(importlib.import_module(f"scratchlab.rl.{_EXPORTS[name]}"), name)


def __dir__() -> list[str]:
    return __all__
