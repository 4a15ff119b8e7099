"""Which way of running episodes is faster on this machine: gymnasium SyncVectorEnv or one env?

For each environment and backend (`vector`: SyncVectorEnv, one sub-env per episode of a batch,
stepped in lock-step, one batched policy forward per step; `batched`: a list of envs, one batched
forward per step, only running episodes stepped; `serial`: one env, one forward per step) it reports

- collection: environment steps per second when running batches of episodes with a fresh policy;
- training: environment steps per second of a short real training run (collection + updates), where
  episode lengths change as the policy learns;

each per second of wall time and per second of this process's CPU time (the machine may be shared),
best of several interleaved repeats.

Appends one JSON line to bench/results.jsonl. Run from the repository root:

    .venv/bin/python bench/rl_envs.py [--steps 30000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import torch

from scratchlab.rl.agent import PolicyAgent
from scratchlab.rl.config import preset_config
from scratchlab.rl.experience import EpisodeRunner, episode_seeds
from scratchlab.rl.nets import PolicyNet
from scratchlab.rl.trainer import train

ENVS = ("CartPole-v1", "LunarLander-v3")
BACKENDS = ("vector", "batched", "serial")
KEYS = ("collect_wall", "collect_cpu", "train_wall", "train_cpu")


class Clock:
    """Wall time and this process's CPU time (less disturbed by other work on a shared machine)."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def collection_rate(env_id: str, backend: str, episodes: int, batch: int) -> tuple[float, float]:
    """(wall, cpu) steps per second collecting `episodes` episodes with an untrained policy."""
    torch.manual_seed(0)
    runner = EpisodeRunner(env_id, batch, backend)
    agent = PolicyAgent(PolicyNet(runner.obs_dim, runner.n_actions, (128,)))
    runner.run(agent, episode_seeds(1, 0, batch))  # warm-up
    with Clock() as clock:
        steps = sum(len(ep) for ep in runner.run(agent, episode_seeds(0, 0, episodes)))
    runner.close()
    return steps / clock.wall, steps / clock.cpu


def training_rate(env_id: str, backend: str, steps: int, method: str) -> tuple[float, float]:
    """(wall, cpu) steps per second of a `steps`-step training run (one tiny evaluation at the
    end)."""
    config = preset_config(
        env_id,
        method,
        backend=backend,
        total_steps=steps,
        eval_every=0,
        eval_episodes=1,
        target_return=None,
    )
    with TemporaryDirectory() as out, Clock() as clock:
        results = train(config, out, verbose=False)
    return results["steps"] / clock.wall, results["steps"] / clock.cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30_000, help="training steps per measurement")
    parser.add_argument(
        "--episodes", type=int, default=256, help="episodes per collection measurement"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="repeats, interleaved; the best is reported"
    )
    parser.add_argument("--method", default="vpg")
    parser.add_argument("--results", default="bench/results.jsonl")
    args = parser.parse_args()
    torch.set_num_threads(1)
    samples: dict[str, dict[str, list[float]]] = {}
    for _ in range(args.repeats):
        for env_id in ENVS:
            batch = preset_config(env_id, args.method).episodes_per_batch
            for backend in BACKENDS:
                entry = samples.setdefault(f"{env_id}/{backend}", {})
                rates = (
                    *collection_rate(env_id, backend, args.episodes, batch),
                    *training_rate(env_id, backend, args.steps, args.method),
                )
                for key, rate in zip(KEYS, rates, strict=True):
                    entry.setdefault(key, []).append(rate)
    metrics = {
        name: {key: round(max(v), 1) for key, v in entry.items()} for name, entry in samples.items()
    }
    for env_id in ENVS:
        serial = metrics[f"{env_id}/serial"]
        for backend in BACKENDS:
            m = metrics[f"{env_id}/{backend}"]
            ratios = "  ".join(f"{key} {m[key]:7.0f} ({m[key] / serial[key]:.2f}x)" for key in KEYS)
            print(f"{env_id:15s} {backend:8s} steps/s (x serial): {ratios}", flush=True)
    line = {
        "bench": "rl_envs",
        "device": "cpu",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", *sys.argv]),
        "cpu_count": os.cpu_count(),
        "metrics": metrics,
    }
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    with open(args.results, "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
