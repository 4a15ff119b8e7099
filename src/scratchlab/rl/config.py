"""One dataclass holds every argument of a policy-gradient run, plus tuned presets per
env/method."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from scratchlab.errors import ConfigError
from scratchlab.rl.experience import BACKENDS
from scratchlab.rl.losses import METHODS

EVAL_MODES = ("greedy", "sample")


@dataclass
class RLConfig:
    """Arguments of one policy-gradient training run."""

    env_id: str = "CartPole-v1"
    """gymnasium environment id (discrete actions, flat observations)."""
    method: str = "vpg"
    """vpg (vanilla), bpg (mean-return baseline), epg (entropy bonus), cpg (baseline + entropy),
    aac."""
    seed: int = 0
    """Seeds python, numpy, torch and every environment reset."""
    total_steps: int = 200_000
    """Environment steps to train for (evaluation steps are not counted)."""
    time_limit: float | None = None
    """Also stop after this many seconds of training (None: no limit; makes the run
    non-repeatable)."""
    episodes_per_batch: int = 8
    """Whole episodes per gradient step (also the number of sub-envs of the vector backend)."""
    gamma: float = 0.99
    """Discount factor of the returns (q-values)."""
    learning_rate: float = 3e-3
    """Adam learning rate."""
    hidden: tuple[int, ...] = (128,)
    """Widths of the hidden layers of the policy (and shared actor-critic body)."""
    activation: str = "relu"
    """Hidden activation: relu, tanh or elu."""
    beta: float = 0.0
    """Weight of the normalised entropy bonus (epg, cpg, aac)."""
    delta: float = 1.0
    """Weight of the state-value MSE in the actor-critic loss (aac)."""
    reward_scale: float = 1.0
    """Rewards are multiplied by this before computing q-values (episode rewards are reported
    unscaled)."""
    max_grad_norm: float | None = None
    """Clip the gradient norm to this value before each step (None: no clipping)."""
    gae_lambda: float = 1.0
    """aac: lambda of the generalised advantage estimate (1: `q_t - V(s_t)`; lower: less variance,
    more bias from V); the value head then regresses the lambda-returns."""
    normalize_advantages: bool = False
    """bpg, cpg, aac: standardise the advantages of each (mini)batch to mean 0, std 1."""
    minibatches: int = 1
    """Gradient steps per pass over a batch of episodes (its steps shuffled and split)."""
    epochs: int = 1
    """Passes over each batch of episodes (more than 1 needs `clip_range`: the data go stale)."""
    clip_range: float | None = None
    """aac: clip the probability ratio to [1 - c, 1 + c] in the policy term (PPO's surrogate;
    None: the plain `-A log pi`)."""
    shared_body: bool = True
    """aac: one body for the policy and value heads (True) or a separate one for each."""
    backend: str = "batched"
    """How episodes are run: batched (fastest, see bench/rl_envs.py), vector (SyncVectorEnv) or
    serial."""
    eval_every: int = 0
    """Evaluate the policy every this many training steps (0: only at the end)."""
    eval_episodes: int = 100
    """Episodes per evaluation."""
    eval_mode: str = "greedy"
    """Evaluate by acting greedily (argmax) or by sampling from the policy ("sample")."""
    target_return: float | None = None
    """Mean evaluation return that counts as solved (None: no target)."""
    stop_at_target: bool = True
    """Stop training once an evaluation reaches `target_return`."""
    checkpoint_every: int = 50
    """Write the resumable checkpoint every this many batches (and at the end)."""
    device: str = "cpu"
    """Torch device for the policy: cpu, cuda or auto (tiny policies run fastest on cpu)."""
    torch_threads: int = 1
    """Torch intra-op threads (1 is fastest for tiny networks)."""

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        if any(h < 1 for h in self.hidden):
            raise ConfigError(f"hidden widths must be at least 1, got {list(self.hidden)}")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{f.name} must be a finite number, got {value}")
        if self.method not in METHODS:
            raise ConfigError(f"unknown method {self.method!r}; use one of {', '.join(METHODS)}")
        if self.eval_mode not in EVAL_MODES:
            raise ConfigError(f"unknown eval_mode {self.eval_mode!r}; use greedy or sample")
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown backend {self.backend!r}; use one of {', '.join(BACKENDS)}")
        positive = (
            "total_steps",
            "episodes_per_batch",
            "eval_episodes",
            "checkpoint_every",
            "torch_threads",
            "minibatches",
            "epochs",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.learning_rate <= 0 or self.eval_every < 0 or self.reward_scale <= 0:
            raise ConfigError("learning_rate and reward_scale must be positive and eval_every >= 0")
        if self.time_limit is not None and self.time_limit <= 0:
            raise ConfigError(f"time_limit must be positive seconds, got {self.time_limit}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ConfigError(f"gamma={self.gamma} is outside [0, 1]; pick a value such as 0.99")
        self._check_method_fields()

    def _check_method_fields(self) -> None:
        """Refuse a setting the chosen method would not read."""
        if not 0.0 <= self.gae_lambda <= 1.0:
            raise ConfigError(f"gae_lambda={self.gae_lambda} is outside [0, 1]; try 0.95")
        aac_only = {"gae_lambda": 1.0, "clip_range": None, "shared_body": True}
        for name, default in aac_only.items():
            if getattr(self, name) != default and self.method != "aac":
                raise ConfigError(f"{name} needs a value head: use method aac, not {self.method}")
        if self.clip_range is not None and not 0.0 < self.clip_range < 1.0:
            raise ConfigError(f"clip_range={self.clip_range} is outside (0, 1); try 0.2")
        if self.epochs > 1 and self.clip_range is None:
            raise ConfigError("epochs > 1 reuses stale data: set clip_range (e.g. 0.2) as well")
        if self.normalize_advantages and self.method in ("vpg", "epg"):
            raise ConfigError(f"{self.method} has no advantage to normalise; use bpg, cpg or aac")

    @property
    def run_name(self) -> str:
        """File stem of the run's results and checkpoints, e.g. `rl_CartPole-v1_vpg_s0`."""
        return f"rl_{self.env_id}_{self.method}_s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every field."""
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RLConfig:
        """Inverse of `to_dict`; unknown fields are a ConfigError."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(
                f"unknown rl config fields {unknown}; known fields are {sorted(known)}"
            )
        return cls(**d)


# Settings measured with `scratchlab rl bench` (see docs/rl.md); the rest keep the defaults.
_CARTPOLE: dict[str, Any] = {"target_return": 475.0, "eval_every": 5_000, "learning_rate": 1e-2}
_LUNAR: dict[str, Any] = {
    "target_return": 200.0,
    "eval_every": 50_000,
    "total_steps": 3_000_000,
    "hidden": (128, 128),
    "learning_rate": 3e-3,
}
# LunarLander's actor-critic: GAE, normalised advantages and PPO's clipped ratio over 4 passes of
# 8 minibatches per batch, with a separate value body (docs/rl.md says what each one buys).
_LUNAR_AAC: dict[str, Any] = {
    **_LUNAR,
    "beta": 0.01,
    "delta": 0.5,
    "reward_scale": 0.01,
    "learning_rate": 5e-4,
    "gae_lambda": 0.95,
    "normalize_advantages": True,
    "max_grad_norm": 0.5,
    "clip_range": 0.2,
    "epochs": 4,
    "minibatches": 8,
    "shared_body": False,
}
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "CartPole-v1": {
        "vpg": {**_CARTPOLE},
        "bpg": {**_CARTPOLE},
        "epg": {**_CARTPOLE, "beta": 0.01},
        "cpg": {**_CARTPOLE, "beta": 0.01},
        "aac": {**_CARTPOLE, "beta": 0.01, "delta": 0.5, "reward_scale": 0.01},
    },
    "LunarLander-v3": {
        "vpg": {**_LUNAR},
        "bpg": {**_LUNAR},
        "epg": {**_LUNAR, "beta": 0.01},
        "cpg": {**_LUNAR, "beta": 0.01},
        "aac": _LUNAR_AAC,
    },
}


def preset_config(env_id: str, method: str, **overrides: Any) -> RLConfig:
    """The tuned settings for `env_id`/`method` (defaults elsewhere), then `overrides` (None =
    keep)."""
    settings: dict[str, Any] = {"env_id": env_id, "method": method}
    settings.update(PRESETS.get(env_id, {}).get(method, {}))
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return RLConfig.from_dict(settings)
