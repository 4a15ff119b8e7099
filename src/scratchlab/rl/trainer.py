"""Train a policy with a policy-gradient method: batches of whole episodes, one Adam step each
(or `epochs` passes of `minibatches` steps, see `rl.update`).

Seeding happens in one place (`PolicyTrainer.__init__`); every episode resets its environment
with a seed derived from the run seed and its index. Checkpoints between batches hold the RNG
states: a resumed run computes exactly what an uninterrupted one would have.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scratchlab.rl.agent import PolicyAgent
from scratchlab.rl.checkpoint import (
    check_resumable,
    environment_record,
    load_checkpoint,
    save_checkpoint,
)
from scratchlab.rl.config import RLConfig
from scratchlab.rl.episodes import Episode, TrainBatch
from scratchlab.rl.experience import EpisodeRunner, episode_seeds, evaluate_returns
from scratchlab.rl.update import (
    gradient_step,
    losses_for,
    minibatches,
    needs_snapshot,
    policy_for,
    snapshot,
)
from scratchlab.util import (
    atomic_write_json,
    get_rng_state,
    resolve_device,
    seed_everything,
    set_rng_state,
)
from scratchlab.util.progress_bars import progress  # the function, not the module of the same name

HISTORY_KEYS = (
    "batch_steps",
    "policy_loss",
    "baseline",
    "entropy",
    "value_loss",
    "loss",
    "mean_reward",
)
MEAN_REWARD_WINDOW = 100
MAX_EVAL_ENVS = 100


class PolicyTrainer:
    """Trains `config.method` on `config.env_id`, writing checkpoints and results under
    `out_dir`."""

    def __init__(
        self, config: RLConfig, out_dir: str | os.PathLike = "results/rl", verbose: bool = True
    ):
        self.config, self.out_dir, self.verbose = config, Path(out_dir), verbose
        torch.set_num_threads(config.torch_threads)
        seed_everything(config.seed)
        self.device = resolve_device(config.device)
        self.runner = EpisodeRunner(config.env_id, config.episodes_per_batch, config.backend)
        n_actions = self.runner.n_actions
        self.policy = policy_for(config, self.runner.obs_dim, n_actions).to(self.device)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.learning_rate)
        self.losses = losses_for(config, n_actions)
        self.agent = PolicyAgent(self.policy, self.device)
        self._eval_runner: EpisodeRunner | None = None
        self.progress: dict[str, Any] = {
            "batches": 0,
            "episodes": 0,
            "steps": 0,
            "train_seconds": 0.0,
            "eval_seconds": 0.0,
            "next_eval": config.eval_every,
            "best_eval": None,
            "solved_at_steps": None,
        }
        self.history: dict[str, list] = {key: [] for key in HISTORY_KEYS}
        self.episode_rewards: list[float] = []
        self.evals: list[list[float]] = []

    # -- files -------------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        """The resumable checkpoint, `<out_dir>/<run_name>.pt`."""
        return self.out_dir / f"{self.config.run_name}.pt"

    @property
    def best_path(self) -> Path:
        """Weights of the best greedy evaluation so far, `<out_dir>/<run_name>.best.pt`."""
        return self.out_dir / f"{self.config.run_name}.best.pt"

    @property
    def results_path(self) -> Path:
        """The run's results, `<out_dir>/<run_name>.json`."""
        return self.out_dir / f"{self.config.run_name}.json"

    def save(self) -> Path:
        """Write the resumable checkpoint (weights, optimizer, RNG states, progress, history)."""
        return save_checkpoint(
            self.checkpoint_path,
            self.config,
            self.policy,
            optimizer=self.optimizer.state_dict(),
            rng=get_rng_state(),
            progress=dict(self.progress),
            history=self.history,
            episode_rewards=self.episode_rewards,
            evals=self.evals,
        )

    def load(self, path: str | os.PathLike | None = None) -> None:
        """Restore everything `save` wrote, after checking the checkpoint's config fits this run."""
        path = Path(path or self.checkpoint_path)
        payload = load_checkpoint(path)
        check_resumable(RLConfig.from_dict(payload["config"]), self.config, path)
        self.policy.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        set_rng_state(payload["rng"])
        self.progress = payload["progress"]
        self.history, self.evals = payload["history"], payload["evals"]
        self.episode_rewards = payload["episode_rewards"]

    # -- one batch ---------------------------------------------------------------------------
    def collect(self) -> list[Episode]:
        """The next batch of episodes, sampled from the current policy."""
        k = self.config.episodes_per_batch
        return self.runner.run(
            self.agent, episode_seeds(self.config.seed, self.progress["episodes"], k)
        )

    def train_batch(self, episodes: list[Episode]) -> dict[str, float]:
        """The gradient steps on `episodes` (see `update.minibatches`); the mean loss parts."""
        cfg = self.config
        batch = TrainBatch.from_episodes(episodes, cfg.gamma, cfg.reward_scale).to(self.device)
        if needs_snapshot(cfg):
            batch = snapshot(self.policy, batch, cfg)
        steps = [self.step(part) for part in minibatches(batch, cfg)]
        return {key: float(np.mean([p[key] for p in steps])) for key in steps[0]}

    def step(self, batch: TrainBatch) -> dict[str, float]:
        """One gradient step on `batch`; returns the loss parts."""
        return gradient_step(
            self.policy, self.optimizer, self.losses, batch, self.config, self.progress["batches"]
        )

    def _record(self, episodes: list[Episode], parts: dict[str, float]) -> None:
        self.progress["batches"] += 1
        self.progress["episodes"] += len(episodes)
        self.progress["steps"] += sum(len(ep) for ep in episodes)
        self.episode_rewards += [ep.total_reward for ep in episodes]
        self.history["batch_steps"].append(self.progress["steps"])
        self.history["mean_reward"].append(
            float(np.mean(self.episode_rewards[-MEAN_REWARD_WINDOW:]))
        )
        for key in HISTORY_KEYS:
            if key in parts:
                self.history[key].append(parts[key])

    # -- evaluation --------------------------------------------------------------------------
    def evaluate(self, episodes: int | None = None, mode: str | None = None) -> np.ndarray:
        """Returns of `episodes` evaluation episodes (default
        `config.eval_episodes`/`eval_mode`)."""
        episodes = episodes or self.config.eval_episodes
        if self._eval_runner is None:
            num_envs = min(self.config.eval_episodes, MAX_EVAL_ENVS)
            self._eval_runner = EpisodeRunner(self.config.env_id, num_envs, self.config.backend)
        greedy = (mode or self.config.eval_mode) == "greedy"
        return evaluate_returns(
            self.policy, self._eval_runner, episodes, self.config.seed, greedy, self.device
        )

    def _periodic_eval(self) -> None:
        start = time.perf_counter()
        returns = self.evaluate()
        self.progress["eval_seconds"] += time.perf_counter() - start
        mean, steps = float(returns.mean()), self.progress["steps"]
        self.evals.append([steps, mean, float(returns.std())])
        best = self.progress["best_eval"]
        if best is None or mean > best:
            self.progress["best_eval"] = mean
            save_checkpoint(self.best_path, self.config, self.policy, progress=dict(self.progress))
        target = self.config.target_return
        if target is not None and mean >= target and self.progress["solved_at_steps"] is None:
            self.progress["solved_at_steps"] = steps

    def _done(self) -> bool:
        solved = self.progress["solved_at_steps"] is not None and self.config.stop_at_target
        limit = self.config.time_limit
        out_of_time = limit is not None and self.progress["train_seconds"] >= limit
        return solved or out_of_time or self.progress["steps"] >= self.config.total_steps

    # -- the run -----------------------------------------------------------------------------
    def train(self, resume: bool = False) -> dict[str, Any]:
        """Train until `total_steps` (or the target is reached); returns the results dict."""
        if resume and self.checkpoint_path.is_file():
            self.load()
        cfg = self.config
        bar = progress(
            None,
            verbose=self.verbose,
            total=cfg.total_steps,
            initial=self.progress["steps"],
            unit="step",
        )
        try:
            while not self._done():
                start = time.perf_counter()
                episodes = self.collect()
                parts = self.train_batch(episodes)
                self._record(episodes, parts)
                self.progress["train_seconds"] += time.perf_counter() - start
                bar.update(sum(len(ep) for ep in episodes))
                bar.set_postfix(
                    episodes=self.progress["episodes"],
                    reward=f"{self.history['mean_reward'][-1]:.1f}",
                    loss=f"{parts['loss']:.3g}",
                )
                if cfg.eval_every and self.progress["steps"] >= self.progress["next_eval"]:
                    self._periodic_eval()
                    self.progress["next_eval"] = self.progress["steps"] + cfg.eval_every
                if self.progress["batches"] % cfg.checkpoint_every == 0:
                    self.save()
        finally:
            bar.close()
        if not self.evals or self.evals[-1][0] != self.progress["steps"]:
            self._periodic_eval()
        self.save()
        results = self.results()
        atomic_write_json(
            self.results_path,
            {
                "config": cfg.to_dict(),
                "results": results,
                "environment": environment_record(str(self.device)),
            },
        )
        return results

    def results(self) -> dict[str, Any]:
        """The `results` part of the run's JSON file."""
        _, last_mean, last_std = self.evals[-1] if self.evals else (0, math.nan, math.nan)
        return {
            "num_batches": self.progress["batches"],
            "num_episodes": self.progress["episodes"],
            "steps": self.progress["steps"],
            **{key: list(values) for key, values in self.history.items()},
            "episode_rewards": list(self.episode_rewards),
            "evals": [list(e) for e in self.evals],
            "eval_return": last_mean,
            "eval_std": last_std,
            "eval_episodes": self.config.eval_episodes,
            "best_eval_return": self.progress["best_eval"],
            "solved_at_steps": self.progress["solved_at_steps"],
            "train_seconds": self.progress["train_seconds"],
            "eval_seconds": self.progress["eval_seconds"],
        }

    def close(self) -> None:
        """Close the environments."""
        for runner in (self.runner, self._eval_runner):
            if runner is not None:
                runner.close()


def train(
    config: RLConfig,
    out_dir: str | os.PathLike = "results/rl",
    resume: bool = False,
    verbose: bool = True,
) -> dict[str, Any]:
    """Train one run and return its results (also written to `<out_dir>/<run_name>.json`)."""
    trainer = PolicyTrainer(config, out_dir, verbose=verbose)
    try:
        return trainer.train(resume=resume)
    finally:
        trainer.close()
