"""How long the presets take to solve: LunarLander-v3 aac to a greedy mean of 200 and CartPole-v1
(every method) to 475, per seed, on this machine's CPU.

Each run is `rl.train` with the preset of its environment and method (docs/rl.md): it stops at
the first greedy evaluation over 100 episodes that reaches the target, or at the step budget. It
reports training seconds (collection + updates, no evaluation), evaluation seconds, wall seconds
and this process's CPU seconds (less disturbed when the machine is shared), and appends one JSON
line per run to bench/results.jsonl. Run from the repository root:

    .venv/bin/python bench/rl_solve.py                       # LunarLander aac + CartPole, 5 seeds
    .venv/bin/python bench/rl_solve.py --only cartpole --seeds 0
    .venv/bin/python bench/rl_solve.py --only lunar --seeds 0 --set epochs=1 clip_range=None

`--set` overrides preset fields (an ablation); the line then names them.
"""

from __future__ import annotations

import argparse
import ast
import os
import time
from tempfile import TemporaryDirectory

import torch

from common import record
from scratchlab.rl import preset_config, train

PLAN = {
    "lunar": ("LunarLander-v3", ("aac",), 1_000_000),
    "cartpole": ("CartPole-v1", ("vpg", "bpg", "epg", "cpg", "aac"), 200_000),
}


def solve(env_id: str, method: str, seed: int, steps: int, overrides: dict) -> dict:
    """Train one preset run (with `overrides`) to its target; its timings and returns."""
    config = preset_config(env_id, method, seed=seed, total_steps=steps)
    config = type(config).from_dict({**config.to_dict(), **overrides})
    with TemporaryDirectory() as out:
        wall, cpu = time.perf_counter(), time.process_time()
        results = train(config, out, verbose=False)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "run": " ".join([env_id, method, *(f"{k}={v}" for k, v in overrides.items())]),
        "seed": seed,
        "target_return": config.target_return,
        "solved_at_steps": results["solved_at_steps"],
        "steps": results["steps"],
        "eval_return": round(results["eval_return"], 1),
        "train_seconds": round(results["train_seconds"], 2),
        "eval_seconds": round(results["eval_seconds"], 2),
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "cpu_count": os.cpu_count(),
    }


def _value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(PLAN), nargs="+", default=["lunar", "cartpole"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="FIELD=VALUE",
        help="override preset fields, e.g. epochs=1 clip_range=None",
    )
    args = parser.parse_args()
    overrides = {k: _value(v) for k, v in (item.split("=", 1) for item in args.set)}
    torch.set_num_threads(1)
    for key in args.only:
        env_id, methods, steps = PLAN[key]
        for method in methods:
            for seed in args.seeds:
                metrics = solve(env_id, method, seed, steps, overrides)
                record(f"rl_solve_{key}", "cpu", metrics)


if __name__ == "__main__":
    main()
