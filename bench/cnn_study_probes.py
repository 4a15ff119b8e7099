"""Probes behind the cnn-architecture study's choices (run on a GPU; they print, they record
nothing).

- `profile [--no-cuda-graph] RUN ...`: where a training step's time goes: seconds per training epoch
of the study's
  config and of variants (fused AdamW, no scheduler, batch 512, no augmentation, no channels-last),
  then a torch.profiler table of 30 steps (CPU time per op, and total GPU time).
- `yourcnn [--runs RUN ...] [--variants LABEL ...]`: exp2 runs (default exp2_L6) of YourCNN trained
once per
  architecture variant (width 2, 3 or 4, ReLU or GELU, dropout 0.1 or 0, where the groups pool);
  writes `OUT/spec.yaml`, the study's spec with the best variant.
- `search`: the study's hyper-parameter search alone (`search.csv`, `hyperparameters.json` in OUT).
- `arithmetic TABLE`: from a finished study's `table.csv` (no GPU needed), each run's training
  arithmetic (multiply-adds x 2 x 3 for forward and backward x images x epochs) and the rate it
  trained at, the study's total and how long it takes at the best rate reached (for runs that
  shared the GPU, the rate over the study's wall time).

    cd bench && python cnn_study_probes.py --data cifar10-jpeg.npz profile exp1_1_L2_K32
    exp1_4_L8_K64-128-256 cd bench && python cnn_study_probes.py --data cifar10-jpeg.npz --out OUT
    yourcnn cd bench && python cnn_study_probes.py --data cifar10-jpeg.npz --out OUT search
    cd bench && python cnn_study_probes.py arithmetic ../docs/results/cnn-architecture/table.csv
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from scratchlab.experiments import load_run_data, run_experiment
from scratchlab.experiments.build import build_trainer  # no public name builds a run's trainer
from scratchlab.studies.cnn_architecture.search import run_search
from scratchlab.studies.cnn_architecture.spec import (
    DEFAULT_SPEC,
    data_overrides,
    load_spec,
    study_configs,
)

STEP_VARIANTS: dict[str, Any] = {
    "as study": {},
    "fused adamw": "fused",
    "no scheduler": "no_scheduler",
    "batch 512": {"bs_train": 512},
    "no augmentation": {"augment": []},
    "no channels-last": {"channels_last": False},
}
YOURCNN_VARIANTS: dict[str, dict[str, Any]] = {
    "width 2, relu": {
        "model_options": {"width_multiplier": 2, "pool_position": "before_group"},
        "activation": "relu",
    },
    "width 3, relu": {
        "model_options": {"width_multiplier": 3, "pool_position": "before_group"},
        "activation": "relu",
    },
    "width 2, gelu": {
        "model_options": {"width_multiplier": 2, "pool_position": "before_group"},
        "activation": "gelu",
    },
    "width 2, relu, no dropout": {
        "model_options": {"width_multiplier": 2, "pool_position": "before_group"},
        "activation": "relu",
        "dropout": 0.0,
    },
    "width 3, gelu": {
        "model_options": {"width_multiplier": 3, "pool_position": "before_group"},
        "activation": "gelu",
    },
    # Pooling right after each group's widening convolution (ResNet-9): the residual blocks run
    # at a quarter of the pixels, so each costs a quarter of the arithmetic.
    "pool after widen, width 3, gelu": {
        "model_options": {"width_multiplier": 3, "pool_position": "after_widen"},
        "activation": "gelu",
    },
    "pool after widen, width 4, gelu, stem 16": {
        "model_options": {
            "width_multiplier": 4,
            "pool_position": "after_widen",
            "stem_channels": 16,
        },
        "activation": "gelu",
    },
    "pool after widen, width 4, gelu": {
        "model_options": {"width_multiplier": 4, "pool_position": "after_widen"},
        "activation": "gelu",
    },
}
# the probe as first run: width, activation and dropout with the first group unpooled
FIRST_YOURCNN_VARIANTS = 5


def configs_by_name(data: Path, spec: Any = None) -> dict[str, Any]:
    spec = load_spec(spec)
    overrides = data_overrides(spec, False, "cuda", data)
    return {
        c.run_name: c for c in study_configs(spec, Path("/tmp/unused"), "cuda", overrides=overrides)
    }


def train_epoch_seconds(trainer: Any, loader: Any, epochs: int = 2) -> float:
    trainer.train_epoch(loader, verbose=False)  # warm-up (and graph capture)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(epochs):
        trainer.train_epoch(loader, verbose=False)
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / epochs


def profile(args: argparse.Namespace) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    configs = configs_by_name(args.data)
    if args.no_cuda_graph:
        configs = {name: c.replace(cuda_graph=False) for name, c in configs.items()}
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    for name in args.runs:
        config = configs[name]
        for label, change in STEP_VARIANTS.items():
            variant = config.replace(**change) if isinstance(change, dict) else config
            data = load_run_data(variant, device)
            built = build_trainer(variant, data, device, [])
            model, trainer = built.model, built.trainer
            if change == "fused":
                trainer.optimizer = torch.optim.AdamW(
                    model.parameters(),
                    lr=variant.optim.lr,
                    weight_decay=variant.optim.reg,
                    fused=True,
                )
            if change in ("fused", "no_scheduler"):
                trainer.scheduler = None
            seconds = train_epoch_seconds(trainer, data.train)
            steps = len(data.train)
            print(
                f"{name:26s} {label:26s} {seconds:.3f} s per training epoch, "
                f"{1000 * seconds / steps:.2f} ms per step",
                flush=True,
            )
        data = load_run_data(config, device)
        trainer = build_trainer(config, data, device, []).trainer
        trainer.train_epoch(data.train, verbose=False, max_batches=20)
        with torch_profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            trainer.train_epoch(data.train, verbose=False, max_batches=30)
            torch.cuda.synchronize()
        print(
            prof.key_averages().table(
                sort_by="self_cpu_time_total", row_limit=18, max_name_column_width=40
            )
        )


def yourcnn(args: argparse.Namespace) -> None:
    labels = (
        list(YOURCNN_VARIANTS)[:FIRST_YOURCNN_VARIANTS] if args.variants is None else args.variants
    )
    unknown = [v for v in labels if v not in YOURCNN_VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; choose among {list(YOURCNN_VARIANTS)}")
    best: tuple[float, str, dict[str, Any]] | None = None
    for label in labels:
        change = YOURCNN_VARIANTS[label]
        spec = copy.deepcopy(DEFAULT_SPEC)
        fields = spec["experiments"]["exp2"][0]["fields"]
        fields.update({k: v for k, v in change.items() if k != "model_options"})
        fields["model_options"] = {**fields["model_options"], **change.get("model_options", {})}
        configs = configs_by_name(args.data, spec)
        accuracies = []
        for run in args.runs:
            config = configs[run].replace(
                out_dir=args.out / "yourcnn" / label.replace(", ", "_").replace(" ", "")
            )
            start = time.perf_counter()
            result = run_experiment(config, verbose=False)
            accuracies.append(result.summary["best_test_acc"])
            print(
                f"{label:42s} {run:20s} best test accuracy {accuracies[-1]:.2f}%  "
                f"{time.perf_counter() - start:.1f} s"
                f"  ({result.summary['flops'] / 1e6:.0f}M multiply-adds per image)",
                flush=True,
            )
        if best is None or max(accuracies) > best[0]:
            best = (max(accuracies), label, spec)
    assert best is not None
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "spec.yaml").write_text(yaml.safe_dump(best[2], sort_keys=False))
    print(f"best variant: {best[1]}; its spec: {args.out / 'spec.yaml'}")


def search(args: argparse.Namespace) -> None:
    spec = load_spec()
    frame = run_search(spec, args.out, "cuda", data_overrides(spec, False, "cuda", args.data))
    print(frame.to_string())


def arithmetic(args: argparse.Namespace) -> None:
    import pandas as pd

    table = pd.read_csv(args.table)
    images = json_field(args.table.with_name("study.json"), "train_images")
    table["pflop"] = table["flops"] * 2 * 3 * images * table["epochs"] / 1e15
    table["tflop_per_s"] = table["pflop"] * 1e3 / table["train_seconds"]
    columns = table[["run_name", "pflop", "train_seconds", "tflop_per_s"]]
    print(columns.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    total, best = table["pflop"].sum(), table["tflop_per_s"].max()
    share = table.groupby("experiment")["pflop"].sum() / total
    print(
        f"total {total:.1f} PFLOP; share by experiment: "
        + ", ".join(f"{k} {v:.0%}" for k, v in share.items())
    )
    jobs = json_field(args.table.with_name("study.json"), "jobs")
    if jobs > 1:  # per-run seconds overlap: only the study's wall time gives a rate
        wall = json_field(args.table.with_name("study.json"), "wall_seconds")
        print(
            f"{jobs} runs shared the GPU at a time: {total * 1e3 / wall:.0f} TFLOP/s over the "
            f"study's {wall:.0f} s"
        )
    else:
        print(
            f"at the best rate reached ({best:.0f} TFLOP/s) the training alone takes "
            f"{total * 1e3 / best:.0f} s"
        )


def json_field(path: Path, key: str) -> Any:
    import json

    return json.loads(path.read_text())[key]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=None, help="CIFAR-10 (folder or cifar10-jpeg.npz)"
    )
    parser.add_argument("--out", type=Path, default=Path("results/bench/cnn_probes"))
    sub = parser.add_subparsers(dest="probe", required=True)
    p = sub.add_parser("profile", help="time and profile training steps of study runs")
    p.add_argument("runs", nargs="+", help="run names, e.g. exp1_4_L8_K64-128-256")
    p.add_argument(
        "--no-cuda-graph",
        action="store_true",
        help="eager training steps (the study uses a CUDA graph)",
    )
    p.set_defaults(func=profile)
    p = sub.add_parser("yourcnn", help="exp2 runs per YourCNN variant")
    p.add_argument(
        "--runs", nargs="+", default=["exp2_L6_K32-64-128"], help="exp2 run names (default exp2_L6)"
    )
    p.add_argument(
        "--variants",
        nargs="+",
        default=None,
        help=f"variant labels (default the first {FIRST_YOURCNN_VARIANTS}): "
        f"{', '.join(map(repr, YOURCNN_VARIANTS))}",
    )
    p.set_defaults(func=yourcnn)
    sub.add_parser("search", help="the hyper-parameter search alone").set_defaults(func=search)
    p = sub.add_parser("arithmetic", help="training arithmetic and rates of a finished study")
    p.add_argument("table", type=Path, help="the study's table.csv (study.json beside it)")
    p.set_defaults(func=arithmetic)
    args = parser.parse_args()
    if args.probe != "arithmetic" and args.data is None:
        parser.error(f"{args.probe} trains on CIFAR-10: give --data")
    args.func(args)


if __name__ == "__main__":
    main()
