from .agent import PolicyAgent
from .config import PRESETS, RLConfig, preset_config
from .episodes import Episode, TrainBatch, discounted_returns
from .experience import EpisodeRunner, episode_seeds, evaluate_returns, make_env
from .losses import (
    METHODS,
    AACPolicyGradientLoss,
    ActionEntropyLoss,
    BaselinePolicyGradientLoss,
    VanillaPolicyGradientLoss,
    method_losses,
)
from .nets import AACPolicyNet, PolicyNet, build_policy_net
from .play import evaluate_checkpoint, play
from .trainer import PolicyTrainer, train

__all__ = [
    "METHODS",
    "PRESETS",
    "AACPolicyGradientLoss",
    "AACPolicyNet",
    "ActionEntropyLoss",
    "BaselinePolicyGradientLoss",
    "Episode",
    "EpisodeRunner",
    "PolicyAgent",
    "PolicyNet",
    "PolicyTrainer",
    "RLConfig",
    "TrainBatch",
    "VanillaPolicyGradientLoss",
    "build_policy_net",
    "discounted_returns",
    "episode_seeds",
    "evaluate_checkpoint",
    "evaluate_returns",
    "make_env",
    "method_losses",
    "play",
    "preset_config",
    "train",
]
