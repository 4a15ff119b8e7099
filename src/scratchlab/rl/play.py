"""Watch, record and evaluate a trained policy from its checkpoint."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import torch

from scratchlab.errors import ConfigError, MissingDependencyError, require
from scratchlab.rl.agent import PolicyAgent
from scratchlab.rl.checkpoint import load_checkpoint, policy_from_checkpoint
from scratchlab.rl.experience import (
    EVAL_STREAM,
    EpisodeRunner,
    episode_seeds,
    evaluate_returns,
    make_env,
)
from scratchlab.util import atomic_write_bytes

VIDEO_FORMATS = (".gif", ".mp4")


def _check_record_path(path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix not in VIDEO_FORMATS:
        raise ConfigError(f"cannot record to {path}: use a .gif or .mp4 file name")
    require("imageio", "rl")
    has_ffmpeg = any(importlib.util.find_spec(m) for m in ("imageio_ffmpeg", "av"))
    if suffix == ".mp4" and not has_ffmpeg:
        raise MissingDependencyError(
            f"writing {path.name} needs ffmpeg (pip install imageio-ffmpeg); record a .gif "
            "instead: --record out.gif"
        )


def write_video(path: str | os.PathLike, frames: list[np.ndarray], fps: float = 30.0) -> Path:
    """Write RGB frames (H, W, 3) to a .gif (Pillow) or .mp4 (ffmpeg) file, atomically."""
    path = Path(path)
    _check_record_path(path)
    import imageio.v3 as iio

    if path.suffix.lower() == ".gif":
        data = iio.imwrite(
            "<bytes>", np.stack(frames), extension=".gif", duration=1000.0 / fps, loop=0
        )
    else:
        data = iio.imwrite("<bytes>", np.stack(frames), extension=".mp4", fps=fps)
    return atomic_write_bytes(path, data)


def play(
    checkpoint: str | os.PathLike,
    episodes: int = 1,
    record: str | os.PathLike | None = None,
    seed: int = 0,
    greedy: bool = True,
    every: int = 1,
    fps: float = 30.0,
) -> list[float]:
    """Run the checkpoint's policy for `episodes` episodes; with `record`, write their frames.

    Every `every`-th frame is kept (the video still plays in real time).
    """
    if episodes < 1 or every < 1:
        raise ConfigError(f"episodes and every must be at least 1, got {episodes} and {every}")
    if record is not None:
        _check_record_path(Path(record))
    config, policy = policy_from_checkpoint(load_checkpoint(checkpoint))
    torch.manual_seed(seed)
    agent = PolicyAgent(policy, greedy=greedy)
    env = make_env(config.env_id, render_mode="rgb_array" if record else None)
    frames: list[np.ndarray] = []
    returns = []
    try:
        for env_seed in episode_seeds(config.seed + seed, 0, episodes, stream=EVAL_STREAM):
            obs, _ = env.reset(seed=env_seed)
            total, done, step = 0.0, False, 0
            while not done:
                if record and step % every == 0:
                    frames.append(env.render())
                obs, reward, terminated, truncated, _ = env.step(int(agent.act(obs[None])[0]))
                total, done, step = total + float(reward), terminated or truncated, step + 1
            returns.append(total)
    finally:
        env.close()
    if record:
        write_video(record, frames, fps=fps / every)
    return returns


def evaluate_checkpoint(
    checkpoint: str | os.PathLike, episodes: int = 100, seed: int = 0, greedy: bool = True
) -> np.ndarray:
    """Returns of `episodes` evaluation episodes of the checkpoint's policy, shape (episodes,).

    With `seed=0` these are the episodes (and, sampling, the actions) the training run evaluated on.
    """
    if episodes < 1:
        raise ConfigError(f"episodes must be at least 1, got {episodes}")
    config, policy = policy_from_checkpoint(load_checkpoint(checkpoint))
    runner = EpisodeRunner(config.env_id, min(episodes, 100), config.backend)
    try:
        return evaluate_returns(policy, runner, episodes, config.seed + seed, greedy=greedy)
    finally:
        runner.close()
