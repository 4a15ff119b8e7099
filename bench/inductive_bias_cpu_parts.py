"""Train the full inductive-bias study's runs on the CPU through the batched trainer, in 16 worker
processes, one part per seed, model type and data size (`batched="on"` in each; one thread each).

The check of docs/speed.md "Same findings with and without batching" (batched on the CPU); the
study then analyses the finished runs:

    python bench/inductive_bias_cpu_parts.py OUT && scratchlab -q study inductive-bias --device cpu
    --batched on --out OUT
"""

import multiprocessing as mp
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def work(part):
    import torch

    torch.set_num_threads(1)
    from scratchlab.experiments import ExperimentConfig, run_configs

    records = run_configs([ExperimentConfig.load(c) for c in part], batched="on")
    return sum(r.ok for r in records), len(records)


if __name__ == "__main__":
    from scratchlab.studies.inductive_bias import experiment_configs

    out = Path(sys.argv[1])
    scale = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    configs = experiment_configs(False, list(range(5)), out / "runs", device="cpu", scale=scale)
    parts = {}
    for c in configs:
        key = (c.seed, c.model.model_type, c.data.train_limit, c.budget.bs_train)
        parts.setdefault(key, []).append(c.to_dict())
    order = sorted(
        parts.values(),
        key=lambda p: -sum(c["budget"]["epochs"] * c["data"]["train_limit"] for c in p),
    )
    print(len(configs), "runs in", len(order), "parts")
    with ProcessPoolExecutor(16, mp_context=mp.get_context("spawn")) as pool:
        done = list(pool.map(work, order))
    print("ok", sum(d[0] for d in done), "of", sum(d[1] for d in done))
