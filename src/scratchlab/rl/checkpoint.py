"""Checkpoint files of rl runs, the policy they hold, and the environment record of a results
file.

A checkpoint holds only tensors and plain values and is read with `torch.load(weights_only=True)`:
a file that would run code when unpickled is refused, never executed. A checksum inside it
(`util.sealing`) catches a damaged file on loading.
"""

from __future__ import annotations

import os
import pickle
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scratchlab.errors import CheckpointError
from scratchlab.rl.config import RLConfig
from scratchlab.rl.experience import env_spaces, gym, make_env
from scratchlab.rl.nets import AACPolicyNet, PolicyNet, build_policy_net
from scratchlab.util import torch_save_atomic
from scratchlab.util.environment import git_commit
from scratchlab.util.sealing import seal, unseal

FORMAT = "scratchlab-rl-checkpoint"
# What torch's weights-only unpickler says of an object it refuses to build.
UNSAFE = ("Unsupported global", "Unsupported class", "reduce")
VERSION = 1
# Fields that may change between a run and its resumption without changing what it computes.
RESUMABLE_CHANGES = {
    "total_steps",
    "time_limit",
    "checkpoint_every",
    "eval_episodes",
    "torch_threads",
    "device",
}


def save_checkpoint(
    path: str | os.PathLike, config: RLConfig, policy: torch.nn.Module, **state: Any
) -> Path:
    """Atomically write config, policy weights and any extra `state` (optimizer, rng, progress)."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": config.to_dict(),
        "model": policy.state_dict(),
    }
    payload.update(state)
    return torch_save_atomic(seal(_plain(payload)), path)


def _plain(value: Any) -> Any:
    """`value` with numpy scalars made python numbers; anything else not a tensor or a plain
    value is a bug (it would not load with `weights_only=True`)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return value
    raise TypeError(f"an rl checkpoint holds only tensors and plain values, not {type(value)}")


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint`, or raise a `CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"no checkpoint at {path}; train one with: scratchlab rl train --out DIR"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not any(w in str(exc) for w in UNSAFE):  # a damaged file, not a refused object
            raise CheckpointError(f"cannot read checkpoint {path} (not a torch file or "
                                  "damaged); train again to replace it") from None
        raise CheckpointError(
            f"checkpoint {path} holds objects other than tensors and plain values (code, or a "
            "file from an older scratchlab); it is refused, not run: train again to replace it"
        ) from None
    except Exception as exc:  # torch raises many types for a damaged file
        reason = " ".join(str(exc).split())[:200]
        raise CheckpointError(
            f"cannot read checkpoint {path} ({type(exc).__name__}: {reason}); train again to "
            "replace it"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a scratchlab rl checkpoint; pass a .pt written by scratchlab rl train"
        )
    return unseal(payload, path)  # a changed bit is a CheckpointError; unsealed ones still load


def check_resumable(saved: RLConfig, current: RLConfig, path: str | os.PathLike) -> None:
    """Raise a `CheckpointError` when `current` differs from `saved` in a field that matters."""
    diffs = [
        f"{name}={value!r} (checkpoint has {getattr(saved, name)!r})"
        for name, value in current.to_dict().items()
        if name not in RESUMABLE_CHANGES and saved.to_dict()[name] != value
    ]
    if diffs:
        raise CheckpointError(
            f"cannot resume {path}: {', '.join(diffs)}; use the same settings or another --out "
            "without --resume"
        )


def policy_from_checkpoint(payload: dict[str, Any]) -> tuple[RLConfig, PolicyNet | AACPolicyNet]:
    """The run's config and its policy network with the saved weights (on CPU, eval mode)."""
    config = RLConfig.from_dict(payload["config"])
    env = make_env(config.env_id)
    in_features, n_actions = env_spaces(env)
    env.close()
    policy = build_policy_net(
        config.method, in_features, n_actions, config.hidden, config.activation, config.shared_body
    )
    try:
        policy.load_state_dict(payload["model"])
    except RuntimeError as exc:
        raise CheckpointError(
            f"checkpoint weights do not fit the network its config describes: {exc}"
        ) from None
    return config, policy.eval()


def environment_record(device: str) -> dict[str, Any]:
    """Versions, machine and git commit of the run (the `environment` part of a results file)."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "gymnasium": gym().__version__,
        "device": device,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "git_commit": git_commit(),
    }
