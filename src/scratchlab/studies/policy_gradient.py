"""Study `policy-gradient`: `scratchlab.rl` methods on CartPole-v1 and LunarLander-v3, over seeds.

    from scratchlab.studies import policy_gradient
    result = policy_gradient.run(quick=True)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from scratchlab.experiments import RunRecord
from scratchlab.rl import RLConfig, preset_config
from scratchlab.rl.runs import changed_fields, curves_figure, evaluated_run, record_row
from scratchlab.studies.base import Study, StudyResult
from scratchlab.studies.common import new_figure
from scratchlab.util import progress
from scratchlab.util.stats import compare, mean_std, mean_text
from scratchlab.viz import dots_by_group

NAME = "policy-gradient"
DESCRIPTION = ("vpg, bpg, epg, cpg, aac on CartPole-v1; aac and bpg on LunarLander-v3: "
               "steps and seconds to solve, greedy and sampled returns")
HELDOUT = 1000  # evaluation-seed offset of the held-out episodes
METRICS = ["solved", "steps", "train_seconds", "wall_seconds", "eval_return",
           "eval_return_sampled", "eval_return_heldout"]


@dataclass(frozen=True)
class Settings:
    """Methods and step budget per environment, and the evaluation."""

    cartpole_methods: tuple[str, ...] = ("vpg", "bpg", "epg", "cpg", "aac")
    cartpole_steps: int = 200_000
    lunar_methods: tuple[str, ...] = ("aac", "bpg")
    lunar_steps: int = 1_000_000
    eval_episodes: int = 100
    eval_every: int | None = None  # None: the presets' (CartPole 5000, LunarLander 50000 steps)

    @classmethod
    def quick(cls) -> Settings:
        return cls(cartpole_steps=30_000, lunar_steps=30_000, eval_episodes=20, eval_every=10_000)


def run_configs(settings: Settings, seeds: list[int]) -> list[RLConfig]:
    """One preset config per environment, method and seed, with the study's budget."""
    plan = [("CartPole-v1", settings.cartpole_methods, settings.cartpole_steps),
            ("LunarLander-v3", settings.lunar_methods, settings.lunar_steps)]
    return [preset_config(env, method, seed=seed, total_steps=steps,
                          eval_episodes=settings.eval_episodes, eval_every=settings.eval_every)
            for env, methods, steps in plan for method in methods for seed in seeds]


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
    values = dict(list(part.groupby("method", sort=False)[metric]))
    verdicts = {m: compare(values[best], v).verdict(*words) for m, v in values.items() if m != best}
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


def returns_figure(table: pd.DataFrame):
    """Greedy, sampled and held-out greedy return of every final policy, per env and method."""
    envs = list(table.env.unique())
    fig, axes = new_figure(1, len(envs), (5, 3.6))
    kinds = {"eval_return": "greedy", "eval_return_sampled": "sampled",
             "eval_return_heldout": "held-out greedy"}
    for ax, env in zip(axes.flat, envs, strict=True):
        part = table[table.env == env]
        dots_by_group(ax, part, "method", kinds)
        ax.axhline(part.target_return.iloc[0], color="grey", linestyle="--", linewidth=0.8)
        ax.set_title(f"{env}: final policies, one dot per seed", fontsize=9)
        ax.set_ylabel("mean return over the evaluation episodes")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


class PolicyGradient(Study):
    """The study; it trains rl runs on the CPU (`device` is unused), not ExperimentConfigs."""

    name, description = NAME, DESCRIPTION
    settings_class = Settings

    def analyze(self, records: list[RunRecord]) -> StudyResult:
        settings = self.settings_for(self.quick)
        configs = run_configs(settings, self.seeds)
        runs = [evaluated_run(c, self.runs_dir, HELDOUT)
                for c in progress(configs, desc="rl runs")]
        table = pd.DataFrame([{"study": NAME, **record_row(r)} for r in runs])
        table = table.astype({"solved_at_steps": "Int64"})
        figures = {f"learning_curves_{env}": curves_figure(env, [
            r for r in runs if r["config"]["env_id"] == env]) for env in table.env.unique()}
        figures["final_returns"] = returns_figure(table)
        summary = mean_std(table, ["env", "method"], METRICS).round(3)
        headline = summary[["env", "method", "n", "solved_mean", "steps_mean",
                            "train_seconds_mean", "eval_return_mean", "eval_return_ci95",
                            "eval_return_sampled_mean"]]
        first = [c for c in configs if c.seed == self.seeds[0]]
        presets = {f"{c.env_id} {c.method}": changed_fields(c) for c in first}
        return StudyResult(
            NAME, table, summary, figures, findings(table), headline=headline,
            settings={**asdict(settings), "seeds": self.seeds, **presets},
            notes=["eval_return: mean greedy return over the evaluation episodes at the end of "
                   "training (a run stops at the first evaluation that reaches the target); "
                   "eval_return_sampled: the same policy sampling its actions on the same "
                   "episodes; eval_return_heldout: greedy on as many other episodes. "
                   "train_seconds excludes evaluation; wall_seconds is the whole run. "
                   "solved_mean is the fraction of seeds that reached the target."])


STUDY = PolicyGradient
run = PolicyGradient.run  # run(quick, seeds, device, out_dir)
