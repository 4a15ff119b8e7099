"""Runs kept for a study: one `RLConfig` trained (or resumed) once and its final policy evaluated
again, the record read back while the config is unchanged; records as table rows and learning
curves; the fields a preset sets.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from scratchlab.errors import CheckpointError
from scratchlab.rl.config import RLConfig
from scratchlab.rl.play import evaluate_checkpoint
from scratchlab.rl.trainer import train
from scratchlab.util import atomic_write_json
from scratchlab.viz import mean_band

# what a record keeps of the run's results, besides its config and the extra evaluations
RECORD_KEYS = ("steps", "solved_at_steps", "train_seconds", "eval_seconds", "eval_return",
               "best_eval_return", "num_episodes", "mean_reward", "policy_loss", "baseline",
               "entropy", "batch_steps")
CURVES = {"mean_reward": "mean reward (last 100 episodes)", "policy_loss": "policy loss",
          "baseline": "baseline (return units)", "entropy": "entropy (normalised)"}


def evaluated_run(config: RLConfig, runs_dir: Path, heldout_seed: int) -> dict[str, Any]:
    """Train (or resume) one run, then evaluate its final policy sampling its actions and greedily
    on held-out episodes (evaluation seed offset `heldout_seed`).

    The record is `<runs_dir>/<run>.study.json`; a record of the same config is read back instead.
    """
    runs_dir.mkdir(parents=True, exist_ok=True)
    done = runs_dir / f"{config.run_name}.study.json"
    if done.is_file():
        stored = json.loads(done.read_text())
        if stored["config"] == config.to_dict():
            return stored
    start = time.perf_counter()
    try:
        results = train(config, runs_dir, resume=True, verbose=False)
    except CheckpointError:  # a checkpoint of other settings: start afresh
        results = train(config, runs_dir, resume=False, verbose=False)
    checkpoint, n = runs_dir / f"{config.run_name}.pt", config.eval_episodes
    sampled = evaluate_checkpoint(checkpoint, n, greedy=False)
    heldout = evaluate_checkpoint(checkpoint, n, seed=heldout_seed, greedy=True)
    record = {"config": config.to_dict(), **{k: results[k] for k in RECORD_KEYS},
              "wall_seconds": time.perf_counter() - start,
              "eval_return_sampled": float(sampled.mean()),
              "eval_return_heldout": float(heldout.mean())}
    atomic_write_json(done, record, indent=None)
    return record


def record_row(record: dict[str, Any]) -> dict[str, Any]:
    """A record of `evaluated_run` as one table row (returns to 2 decimals, seconds to 3)."""
    c = record["config"]
    returns = ("eval_return", "eval_return_sampled", "eval_return_heldout", "best_eval_return")
    seconds = ("train_seconds", "eval_seconds", "wall_seconds")
    return {"env": c["env_id"], "method": c["method"], "seed": c["seed"],
            "solved": record["solved_at_steps"] is not None,
            "solved_at_steps": record["solved_at_steps"], "target_return": c["target_return"],
            "steps": record["steps"], "episodes": record["num_episodes"],
            **{k: round(record[k], 3) for k in seconds},
            **{k: round(record[k], 2) for k in returns},
            "final_entropy": round(record["entropy"][-1], 4) if record["entropy"] else np.nan}


def changed_fields(config: RLConfig) -> str:
    """'name=value, ...' of the fields (but the seed) where `config` leaves the `RLConfig`
    defaults: what its preset sets."""
    default = RLConfig(env_id=config.env_id, method=config.method).to_dict()
    return ", ".join(f"{k}={v}" for k, v in config.to_dict().items()
                     if default[k] != v and k != "seed")


def curves_on_grid(records: list[dict[str, Any]], key: str, grid: np.ndarray,
                   smooth: int = 5) -> np.ndarray:
    """(records, points): each record's curve `key` (baselines in return units), the mean of
    `smooth` batches, at the environment steps `grid` (NaN where the run did not get)."""
    out = np.full((len(records), len(grid)), np.nan)
    for i, record in enumerate(records):
        values = np.asarray(record[key], dtype=float)
        if len(values) == 0:
            continue
        if key == "baseline":
            values = values / record["config"]["reward_scale"]
        kernel = np.ones(min(smooth, len(values)))
        values = np.convolve(values, kernel, "valid") / len(kernel)  # mean of the last batches
        steps = np.asarray(record["batch_steps"], dtype=float)[len(kernel) - 1 :]
        inside = (grid >= steps[0]) & (grid <= steps[-1])
        out[i, inside] = np.interp(grid[inside], steps, values)
    return out


def curves_figure(env: str, records: list[dict[str, Any]], points: int = 200) -> Figure:
    """The `CURVES` of each method's records: the mean over seeds (line) and its spread (band:
    +- std over the seeds still training)."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.2))
    grid = np.linspace(0, max(r["steps"] for r in records), points)
    methods = dict.fromkeys(r["config"]["method"] for r in records)
    for ax, (key, label) in zip(axes.flat, CURVES.items(), strict=True):
        for i, method in enumerate(methods):
            mine = [r for r in records if r["config"]["method"] == method]
            values = curves_on_grid(mine, key, grid)
            if not np.isnan(values).all():
                mean_band(ax, grid, values, f"C{i}", f"{method} ({len(mine)} seeds)")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("environment steps")
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    axes[0, 1].set_yscale("symlog")  # methods' policy losses differ by orders of magnitude
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{env}: mean over the seeds still training (band +- std), running mean of "
                 "5 batches", fontsize=10)
    fig.tight_layout()
    return fig
