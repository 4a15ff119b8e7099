"""Measure how fast each method solves an environment over several seeds (`scratchlab rl bench`)."""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scratchlab.rl.config import preset_config
from scratchlab.rl.play import evaluate_checkpoint
from scratchlab.rl.trainer import train


def _summary(runs: list[dict[str, Any]], target: float | None) -> dict[str, Any]:
    solved = [r for r in runs if r["solved_at_steps"] is not None]
    walls = [r["wall_seconds"] for r in runs]
    return {
        "target_return": target,
        "solved": len(solved),
        "seeds": len(runs),
        "steps_to_solve": [r["solved_at_steps"] for r in runs],
        "median_steps_to_solve": statistics.median(r["solved_at_steps"] for r in solved)
        if solved
        else None,
        "eval_return": [r["eval_return"] for r in runs],
        **{
            key: [r[key] for r in runs]
            for key in ("greedy_eval_return", "sample_eval_return")
            if key in runs[0]
        },
        "best_eval_return": [r["best_eval_return"] for r in runs],
        "steps": [r["steps"] for r in runs],
        "wall_seconds": walls,
        "mean_wall_seconds": statistics.fmean(walls),
        "max_wall_seconds": max(walls),
    }


def run_bench(
    env_id: str,
    methods: Sequence[str],
    seeds: Sequence[int],
    out_dir: str | os.PathLike,
    results_file: str | os.PathLike | None = "bench/results.jsonl",
    overrides: dict[str, Any] | None = None,
    eval_both: bool = False,
) -> dict[str, Any]:
    """Train every method on every seed with the presets; print and return a summary per method.

    With `eval_both`, each final policy is also evaluated in the other mode (greedy or sampled).
    With `results_file`, append one JSON line `{bench, device, date, command, metrics}` to it.
    """
    metrics: dict[str, Any] = {}
    for method in methods:
        runs = []
        for seed in seeds:
            config = preset_config(env_id, method, seed=seed, **(overrides or {}))
            start = time.perf_counter()
            result = train(config, Path(out_dir) / method, verbose=False)
            run = {
                key: result[key]
                for key in ("solved_at_steps", "eval_return", "best_eval_return", "steps")
            }
            run["wall_seconds"] = time.perf_counter() - start
            message = (
                f"{method} seed {seed}: solved at {run['solved_at_steps']} steps, final "
                f"{config.eval_mode} "
                f"return {run['eval_return']:.1f}, best {run['best_eval_return']:.1f}"
            )
            if eval_both:
                other = "sample" if config.eval_mode == "greedy" else "greedy"
                checkpoint = Path(out_dir) / method / f"{config.run_name}.pt"
                returns = evaluate_checkpoint(
                    checkpoint, config.eval_episodes, greedy=other == "greedy"
                )
                run[f"{other}_eval_return"] = float(returns.mean())
                message += f", {other} return {returns.mean():.1f}"
            runs.append(run)
            print(f"{message}, {run['steps']} steps, {run['wall_seconds']:.1f} s", flush=True)
        if runs:
            metrics[method] = {"config": config.to_dict(), **_summary(runs, config.target_return)}
            m = metrics[method]
            print(
                f"== {method}: solved {m['solved']}/{m['seeds']} seeds, median steps to solve "
                f"{m['median_steps_to_solve']}, wall time per run mean "
                f"{m['mean_wall_seconds']:.1f} s, "
                f"max {m['max_wall_seconds']:.1f} s",
                flush=True,
            )
    if results_file is not None:
        line = {
            "bench": f"rl_{env_id}",
            "device": "cpu",
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": " ".join(["scratchlab", *sys.argv[1:]])
            if sys.argv[0].endswith("scratchlab")
            else " ".join(sys.argv),
            "metrics": metrics,
        }
        path = Path(results_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
    return metrics
