"""Study `policy-gradient`: `scratchlab.rl` methods on CartPole-v1 and LunarLander-v3, over seeds.

    from scratchlab.studies import policy_gradient
    result = policy_gradient.run(quick=True)
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scratchlab.errors import CheckpointError
from scratchlab.experiments import RunRecord
from scratchlab.rl import RLConfig, evaluate_checkpoint, preset_config, train
from scratchlab.studies.base import Study, StudyResult
from scratchlab.studies.common import new_figure
from scratchlab.util import atomic_write_json, progress
from scratchlab.util.stats import compare, mean_std, mean_text

NAME = "policy-gradient"
DESCRIPTION = ("vpg, bpg, epg, cpg, aac on CartPole-v1; aac and bpg on LunarLander-v3: "
               "steps and seconds to solve, greedy and sampled returns")
CARTPOLE, LUNAR = "CartPole-v1", "LunarLander-v3"
METHODS = ("vpg", "bpg", "epg", "cpg", "aac")
HELDOUT = 1000  # evaluation-seed offset of the held-out episodes
METRICS = ["solved", "steps", "train_seconds", "wall_seconds", "eval_return",
           "eval_return_sampled", "eval_return_heldout"]
CURVES = {"mean_reward": "mean reward (last 100 episodes)", "policy_loss": "policy loss",
          "baseline": "baseline (return units)", "entropy": "entropy (normalised)"}


@dataclass(frozen=True)
class Settings:
    """Methods and step budget per environment, and the evaluation."""

    cartpole_methods: tuple[str, ...] = METHODS
    cartpole_steps: int = 200_000
    lunar_methods: tuple[str, ...] = ("aac", "bpg")
    lunar_steps: int = 1_000_000
    eval_episodes: int = 100
    eval_every: int | None = None  # None: the presets' (CartPole 5000, LunarLander 50000 steps)

    @classmethod
    def quick(cls) -> Settings:
        return cls(cartpole_steps=30_000, lunar_steps=30_000, eval_episodes=20,
                   eval_every=10_000)


def run_configs(settings: Settings, seeds: list[int]) -> list[RLConfig]:
    """One preset config per environment, method and seed, with the study's budget."""
    plan = [(CARTPOLE, settings.cartpole_methods, settings.cartpole_steps),
            (LUNAR, settings.lunar_methods, settings.lunar_steps)]
    return [preset_config(env, method, seed=seed, total_steps=steps,
                          eval_episodes=settings.eval_episodes, eval_every=settings.eval_every)
            for env, methods, steps in plan for method in methods for seed in seeds]


def run_one(config: RLConfig, runs_dir: Path) -> dict[str, Any]:
    """Train (or resume) one run, evaluate its final policy twice more; `<run>.study.json`."""
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
    heldout = evaluate_checkpoint(checkpoint, n, seed=HELDOUT, greedy=True)
    keys = ("steps", "solved_at_steps", "train_seconds", "eval_seconds", "eval_return",
            "best_eval_return", "num_episodes", *CURVES, "batch_steps")
    record = {"config": config.to_dict(), **{k: results[k] for k in keys},
              "wall_seconds": time.perf_counter() - start,
              "eval_return_sampled": float(sampled.mean()),
              "eval_return_heldout": float(heldout.mean())}
    atomic_write_json(done, record, indent=None)
    return record


def row(run: dict[str, Any]) -> dict[str, Any]:
    """The table row of a run (returns to 2 decimals, seconds to 3)."""
    c = run["config"]
    returns = ("eval_return", "eval_return_sampled", "eval_return_heldout", "best_eval_return")
    seconds = ("train_seconds", "eval_seconds", "wall_seconds")
    return {"study": NAME, "env": c["env_id"], "method": c["method"], "seed": c["seed"],
            "solved": run["solved_at_steps"] is not None, "solved_at_steps": run["solved_at_steps"],
            "target_return": c["target_return"], "steps": run["steps"],
            "episodes": run["num_episodes"], **{k: round(run[k], 3) for k in seconds},
            **{k: round(run[k], 2) for k in returns},
            "final_entropy": round(run["entropy"][-1], 4) if run["entropy"] else np.nan}


def _ci(values: pd.Series) -> str:
    c = compare(values, values)
    return f"{c.mean_a:.1f} +- {'n/a' if np.isnan(c.ci_a) else f'{c.ci_a:.1f}'}"


def method_finding(env: str, method: str, part: pd.DataFrame) -> str:
    """What one method did on one environment, over its seeds."""
    solved = part[part.solved]
    when = (f"median {solved.solved_at_steps.median():.0f} steps to solve (at most "
            f"{solved.solved_at_steps.max():.0f})" if len(solved) else "never solved")
    return (f"{env} {method}: greedy return >= {part.target_return.iloc[0]:g} on "
            f"{len(solved)}/{len(part)} seeds within {part.steps.max():.0f} steps, {when}; "
            f"greedy {_ci(part.eval_return)}, sampled {_ci(part.eval_return_sampled)}, held-out "
            f"greedy {_ci(part.eval_return_heldout)} (95% CI); {mean_text(part.train_seconds, 2)} "
            f"s of training per seed, {part.wall_seconds.max():.1f} s wall at most.")


def _versus(part: pd.DataFrame, metric: str, best: str, words: tuple[str, str]) -> str:
    """`best` against each other method on `metric`, a 95% verdict each."""
    def values(method: str) -> pd.Series:
        return part[part.method == method][metric]
    verdicts = {m: compare(values(best), values(m)).verdict(*words)
                for m in part.method.unique() if m != best}
    return ", ".join(f"{v} {'against' if v == 'inconclusive' else 'than'} {m}"
                     for m, v in verdicts.items())


def findings(table: pd.DataFrame) -> list[str]:
    """Per method and environment what it reached; then comparisons with their 95% verdicts."""
    out = [method_finding(env, method, part)
           for (env, method), part in table.groupby(["env", "method"], sort=False)]
    for env, part in table.groupby("env", sort=False):
        means = part.groupby("method", sort=False)[["steps", "eval_return"]].mean()
        if len(means) > 1:
            fast, top = means.steps.idxmin(), means.eval_return.idxmax()
            out.append(f"{env}: {fast} trained the fewest steps ({means.steps[fast]:.0f} on "
                       "average; 95% intervals): "
                       f"{_versus(part, 'steps', fast, ('more', 'fewer'))}.")
            out.append(f"{env}: {top} had the highest greedy return "
                       f"({means.eval_return[top]:.1f}; 95% intervals): "
                       f"{_versus(part, 'eval_return', top, ('higher', 'lower'))}.")
        verdicts = [f"{m} {compare(g.eval_return_sampled, g.eval_return).verdict()}"
                    for m, g in part.groupby("method", sort=False)]
        out.append(f"{env}: the final policies sampling their actions against acting greedily "
                   f"(95% intervals): {', '.join(verdicts)}.")
    return out


def _on_grid(runs: list[dict[str, Any]], key: str, grid: np.ndarray, smooth: int = 5):
    """(seeds, points): each run's `key`, mean of `smooth` batches, at `grid` (NaN: not reached)."""
    out = np.full((len(runs), len(grid)), np.nan)
    for i, run in enumerate(runs):
        values = np.asarray(run[key], dtype=float)
        if len(values) == 0:
            continue
        if key == "baseline":
            values = values / run["config"]["reward_scale"]
        kernel = np.ones(min(smooth, len(values)))
        values = np.convolve(values, kernel, "valid") / len(kernel)  # mean of the last batches
        steps = np.asarray(run["batch_steps"], dtype=float)[len(kernel) - 1 :]
        inside = (grid >= steps[0]) & (grid <= steps[-1])
        out[i, inside] = np.interp(grid[inside], steps, values)
    return out


def curve_figure(env: str, runs: list[dict[str, Any]], points: int = 200):
    """Mean over seeds (line) and its spread (band: +- std over the seeds still training)."""
    fig, axes = new_figure(2, 2, (5.5, 3.6))
    grid = np.linspace(0, max(r["steps"] for r in runs), points)
    colours = {m: f"C{i}" for i, m in enumerate(dict.fromkeys(r["config"]["method"] for r in runs))}
    for ax, (key, label) in zip(axes.flat, CURVES.items(), strict=True):
        for method, colour in colours.items():
            mine = [r for r in runs if r["config"]["method"] == method]
            values = _on_grid(mine, key, grid)
            if np.isnan(values).all():
                continue
            with warnings.catch_warnings():  # points that no seed reached stay empty
                warnings.simplefilter("ignore", RuntimeWarning)
                mean, std = np.nanmean(values, 0), np.nan_to_num(np.nanstd(values, 0))
            ax.plot(grid, mean, color=colour, label=f"{method} ({len(mine)} seeds)")
            ax.fill_between(grid, mean - std, mean + std, color=colour, alpha=0.2)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("environment steps")
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    axes[0, 1].set_yscale("symlog")  # methods' policy losses differ by orders of magnitude
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{env}: mean over the seeds still training (band +- std), running mean of "
                 "5 batches", fontsize=10)
    fig.tight_layout()
    return fig


def returns_figure(table: pd.DataFrame):
    """Greedy, sampled and held-out greedy return of every final policy, per env and method."""
    envs = list(table.env.unique())
    fig, axes = new_figure(1, len(envs), (5, 3.6))
    kinds = {"eval_return": "greedy", "eval_return_sampled": "sampled",
             "eval_return_heldout": "held-out greedy"}
    for ax, env in zip(axes.flat, envs, strict=True):
        part = table[table.env == env]
        methods = list(part.method.unique())
        for k, (column, label) in enumerate(kinds.items()):
            x = [methods.index(m) + (k - 1) * 0.25 for m in part.method]
            ax.scatter(x, part[column], s=14, label=label)
        ax.axhline(part.target_return.iloc[0], color="grey", linestyle="--", linewidth=0.8)
        ax.set_xticks(range(len(methods)), methods)
        ax.set_title(f"{env}: final policies, one dot per seed", fontsize=9)
        ax.set_ylabel("mean return over the evaluation episodes")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


class PolicyGradient(Study):
    """The study; it trains rl runs on the CPU (`device` is unused), not ExperimentConfigs."""

    name, description = NAME, DESCRIPTION
    settings_class = Settings
    full_seeds, quick_seeds = 5, 1

    def analyze(self, records: list[RunRecord]) -> StudyResult:
        settings = self.settings_for(self.quick)
        configs = run_configs(settings, self.seeds)
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        runs = [run_one(c, self.runs_dir) for c in progress(configs, desc="rl runs")]
        table = pd.DataFrame([row(r) for r in runs]).astype({"solved_at_steps": "Int64"})
        figures = {f"learning_curves_{env}": curve_figure(env, [
            r for r in runs if r["config"]["env_id"] == env]) for env in table.env.unique()}
        figures["final_returns"] = returns_figure(table)
        summary = mean_std(table, ["env", "method"], METRICS).round(3)
        headline = summary[["env", "method", "n", "solved_mean", "steps_mean",
                            "train_seconds_mean", "eval_return_mean", "eval_return_ci95",
                            "eval_return_sampled_mean"]]
        first = [c for c in configs if c.seed == self.seeds[0]]
        presets = {f"{c.env_id} {c.method}": _changed(c) for c in first}
        return StudyResult(
            NAME, table, summary, figures, findings(table), headline=headline,
            settings={**asdict(settings), "seeds": self.seeds, **presets},
            notes=["eval_return: mean greedy return over the evaluation episodes at the end of "
                   "training (a run stops at the first evaluation that reaches the target); "
                   "eval_return_sampled: the same policy sampling its actions on the same "
                   "episodes; eval_return_heldout: greedy on as many other episodes. "
                   "train_seconds excludes evaluation; wall_seconds is the whole run. "
                   "solved_mean is the fraction of seeds that reached the target."])


def _changed(config: RLConfig) -> str:
    """The fields of `config` that differ from the `RLConfig` defaults (the preset)."""
    default = RLConfig(env_id=config.env_id, method=config.method).to_dict()
    return ", ".join(f"{k}={v}" for k, v in config.to_dict().items()
                     if default[k] != v and k not in ("seed",))


STUDY = PolicyGradient
run = PolicyGradient.run  # run(quick, seeds, device, out_dir)
