"""The arithmetic of the cnn-architecture study, and the GPU throughput a time budget asks for.

    python bench/study_arithmetic.py                       # full mode, 5 seeds, 120 s, 989 TFLOPS
    python bench/study_arithmetic.py --measured docs/results/cnn-architecture

Counts, from each architecture's multiply-adds per image (`models.summary`, shapes only), the
floating-point operations the study's full mode asks for: per epoch a forward and a backward
pass over the training images (3x the forward's multiply-adds, 2 operations each) and a forward
pass over the evaluation images. The first layer's input gradient, which no run computes, is
counted too (a few per cent at most). `--peak-tflops` is the GPU's dense bf16 peak (989 for one
H100 or H200 SXM); the required utilisation is the study's operations over the budget, as a
share of that peak. `--measured DIR` divides the same operations by a finished study's
`wall_seconds` (its study.json) for the throughput it reached. No GPU needed; one result line.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import torch

from common import record, run_cli
from scratchlab.experiments.build import build_run_model
from scratchlab.models import summary
from scratchlab.studies.cnn_architecture.spec import load_spec, study_configs


def study_operations(seeds: int) -> tuple[dict[str, float], dict[str, float]]:
    """Training+evaluation operations per experiment (all seeds), and multiply-adds per run."""
    spec = load_spec()
    per_experiment: dict[str, float] = defaultdict(float)
    macs: dict[str, float] = {}
    for config in study_configs(spec, Path("unused"), seeds=[0]):
        with torch.device("meta"):  # shapes only
            flops = summary(build_run_model(config, (3, 32, 32), 10), (3, 32, 32)).flops
        epochs = config.budget.epochs
        images = 3 * config.data.train_limit * epochs + config.data.test_limit * epochs
        experiment = config.run_name.split("_L")[0]
        per_experiment[experiment] += 2 * flops * images * seeds
        macs[config.run_name] = flops
    return dict(per_experiment), macs


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--budget", type=float, default=120.0, help="study seconds (default 120)")
    p.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak")
    p.add_argument("--measured", type=Path, help="a finished study's folder (its study.json)")
    args = p.parse_args()
    per_experiment, macs = study_operations(args.seeds)
    total = sum(per_experiment.values())
    for experiment, ops in per_experiment.items():
        print(f"{experiment:8s} {ops / 1e15:7.2f} PFLOP ({ops / total:5.1%})")
    needed = total / args.budget / 1e12
    print(f"study, {args.seeds} seeds: {total / 1e15:.2f} PFLOP; in {args.budget:g} s that is "
          f"{needed:.0f} TFLOPS sustained, {needed / args.peak_tflops:.0%} of a "
          f"{args.peak_tflops:g} TFLOPS peak")
    metrics = {"seeds": args.seeds, "runs": len(macs) * args.seeds, "pflop": total / 1e15,
               "pflop_by_experiment": {k: v / 1e15 for k, v in per_experiment.items()},
               "budget_seconds": args.budget, "tflops_needed": needed,
               "peak_tflops": args.peak_tflops, "mfu_needed": needed / args.peak_tflops}
    if args.measured is not None:
        study = json.loads((args.measured / "study.json").read_text())
        reached = total * study["seeds"] / args.seeds / study["wall_seconds"] / 1e12
        print(f"{args.measured}: {study['seeds']} seeds in {study['wall_seconds']:.0f} s on "
              f"{study.get('device_name', '?')}: {reached:.0f} TFLOPS, "
              f"{reached / args.peak_tflops:.0%} of the peak")
        metrics.update(measured=str(args.measured), measured_device=study.get("device_name"),
                       measured_seconds=study["wall_seconds"], tflops_reached=reached)
    record("study_arithmetic", "cpu", metrics)
    return 0


if __name__ == "__main__":
    run_cli(main, "study_arithmetic")
