"""Fast CIFAR-10: test accuracy and training time of a recipe over several runs, in one process.

    python bench/cifar_speed.py --recipe cifar10-fast --runs 5 [--compile] [--data PATH]
    python bench/cifar_speed.py --recipe cifar10-fast --ablate ema --ablate flip  # components
    python bench/cifar_speed.py --quick                                           # CPU smoke run

The data is loaded onto the device once. For the recipe (the baseline) and then for each
`--ablate`d variant: the model is built once, a shorter warm-up run (torch.compile, cuDNN
autotuning) is timed and reported apart, then `--runs` runs with seeds seed..seed+R-1 each
print their accuracy with test-time augmentation (the result), without it, and the training
time: from the start of `fit` (whitening fitted, every epoch's evaluation, the final TTA
evaluation included) to its end, device synchronised, and the same less the evaluations before
the last epoch (`airbench_timed_seconds`: airbench times the whitening fit, the training epochs
and the final TTA evaluation, not its per-epoch evaluations). Model FLOPs utilisation counts
6 x multiply-adds per training image and 2 x per evaluated view, over the GPU's dense bf16 peak.
Each variant appends one line to bench/results.jsonl (bench `cifar_speed`).

`--ablate FIELD` turns one component off: a bool field is negated, `flip` becomes `random`
(airbench's control for alternating flips), numbers become 0 (`tta_level`, `label_smoothing`,
`translate`, ...); `--ablate FIELD=VALUE` sets any value; `--ablate "A=1;B=2"` changes several
fields in one variant.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from common import device_name, record, run_cli, synchronize
from scratchlab.data.transforms import tta_views
from scratchlab.errors import ConfigError
from scratchlab.experiments import ExperimentConfig, RunData, build_trainer
from scratchlab.experiments.config import SECTION_OF
from scratchlab.experiments.recipes import recipe_config, recipe_names
from scratchlab.experiments.run_data import fast_tensors
from scratchlab.training.accel import FastTrainer, make_fast_loaders
from scratchlab.util import resolve_device, seed_everything

REPO = Path(__file__).resolve().parents[1]
H100_BF16_DENSE = 989e12
OFF_VALUES = {"flip": "random", "precision": "fp32"}


def default_data() -> str | None:
    """`$SCRATCHLAB_DATA` (searched by the library), else shared/data/cifar10-jpeg.npz beside or
    in the checkout."""
    if os.environ.get("SCRATCHLAB_DATA"):
        return None
    for place in (REPO.parent / "shared" / "data", REPO / "shared" / "data"):
        if (place / "cifar10-jpeg.npz").is_file():
            return str(place / "cifar10-jpeg.npz")
    return None


def ablation(spec: str, base: ExperimentConfig) -> dict[str, Any]:
    """The config change `FIELD[=VALUE][;FIELD[=VALUE]...]` stands for (see the docstring)."""
    change: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        change.update(one_ablation(part, base))
    if not change:
        raise ConfigError(f"--ablate {spec!r}: name a config field")
    return change


def one_ablation(spec: str, base: ExperimentConfig) -> dict[str, Any]:
    """The change of one `FIELD[=VALUE]`."""
    field, _, text = spec.partition("=")
    field = field.strip().replace("-", "_")
    if field not in SECTION_OF:
        raise ConfigError(f"--ablate {spec}: unknown config field {field!r}")
    if text:
        return {field: yaml.safe_load(text)}
    current = base.flat()[field]
    if field in OFF_VALUES:
        return {field: OFF_VALUES[field]}
    if isinstance(current, bool):
        return {field: not current}
    if isinstance(current, int | float):
        return {field: type(current)(0)}
    raise ConfigError(f"--ablate {spec}: give a value, e.g. --ablate {field}=VALUE")


class EvalTimedTrainer(FastTrainer):
    """The fast trainer, timing each epoch's evaluation (`eval_seconds`, device synchronised)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.eval_seconds: list[float] = []

    def test_epoch(self, dl_test: Any, **kw: Any) -> Any:
        synchronize(self.device)
        start = time.perf_counter()
        result = super().test_epoch(dl_test, **kw)
        synchronize(self.device)
        self.eval_seconds.append(time.perf_counter() - start)
        return result


def train_once(
    model: torch.nn.Module,
    config: ExperimentConfig,
    data: RunData,
    device: torch.device,
    seed: int,
    epochs: int,
) -> tuple[Any, FastTrainer, float]:
    """One training run from a fresh initialisation: (FitResult, trainer, wall seconds of fit)."""
    seed_everything(seed)
    model.reset()
    data.train.reseed(seed)
    o, s = config.optim, config.speed
    momentum = o.momentum if o.optimizer == "momentum" else 0.0
    trainer = EvalTimedTrainer(
        model,
        config.fast,
        lr=o.lr,
        reg=o.reg,
        momentum=momentum,
        label_smoothing=o.label_smoothing,
        precision=s.precision,
        channels_last=s.channels_last,
        compile=s.compile,
        compile_mode=s.compile_mode,
        cuda_graph=s.cuda_graph,
        device=device,
    )
    synchronize(device)
    start = time.perf_counter()
    fit = trainer.fit(
        data.train, data.test, epochs, max_batches=config.budget.batches, print_every=0
    )
    synchronize(device)
    return fit, trainer, time.perf_counter() - start


def flops_per_run(macs: int, config: ExperimentConfig, data: RunData) -> float:
    """Forward+backward FLOPs of the training images plus forward FLOPs of every evaluated view."""
    b = config.budget
    steps = len(data.train) if b.batches is None else min(len(data.train), b.batches)
    trained = b.epochs * steps * b.bs_train
    n_test = data.test.dataset_size
    views = len(tta_views(torch.zeros(1, 1, 4, 4), config.fast.tta_level))
    evaluated = n_test * (b.epochs - 1 + views)
    return macs * (6 * trained + 2 * evaluated)


def parse_sets(specs: list[str]) -> dict[str, Any]:
    """`--set FIELD=VALUE` options as config overrides (values read as YAML)."""
    overrides: dict[str, Any] = {}
    for spec in specs:
        field, _, text = spec.partition("=")
        overrides[field.strip().replace("-", "_")] = yaml.safe_load(text)
    return overrides


def fast_run_data(config: ExperimentConfig, tensors: tuple) -> RunData:
    """The fast loaders of a config over device tensors (`run_data.fast_tensors`)."""
    x_train, y_train, x_test, y_test, classes = tensors
    b, s = config.budget, config.speed
    train, test = make_fast_loaders(
        x_train,
        y_train,
        x_test,
        y_test,
        config.fast,
        b.bs_train,
        b.test_batch_size,
        bf16=s.precision == "bf16",
        channels_last=s.channels_last,
        seed=config.seed,
    )
    return RunData(train, test, tuple(x_train.shape[1:]), len(classes), classes)


def bench_variant(
    label: str,
    config: ExperimentConfig,
    tensors: tuple,
    device: torch.device,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Warm-up plus `args.runs` timed runs of one config; prints one line per run."""
    b, f, s = config.budget, config.fast, config.speed
    data = fast_run_data(config, tensors)
    built = build_trainer(config, data, device, [])
    model, info = built.model, {"params": built.params, "flops": built.flops}
    warm_epochs = min(b.epochs, max(f.whiten_bias_epochs, f.ema_start_epoch) + 1)
    _, _, warmup = train_once(model, config, data, device, seed=10_000, epochs=warm_epochs)
    print(
        f"[{label}] warm-up ({warm_epochs} epochs{', compile' if s.compile else ''}): "
        f"{warmup:.1f} s",
        flush=True,
    )
    accs, plain, seconds, counted = [], [], [], []
    budget_start = time.perf_counter()
    for r in range(args.runs):
        fit, trainer, secs = train_once(
            model, config, data, device, seed=config.seed + r, epochs=b.epochs
        )
        accs.append(fit.test_acc[-1])
        plain.append(trainer.final_plain_acc)
        seconds.append(secs)
        counted.append(secs - sum(trainer.eval_seconds[:-1]))
        print(
            f"[{label}] run {r + 1}/{args.runs}: test acc {accs[-1]:.2f}% (no TTA "
            f"{plain[-1]:.2f}%), train {secs:.3f} s, epochs acc "
            f"{[round(a, 1) for a in fit.test_acc]}",
            flush=True,
        )
        spent = time.perf_counter() - budget_start
        if args.max_seconds and r + 1 >= 2 and spent + spent / (r + 1) > args.max_seconds:
            print(
                f"[{label}] stopping after {r + 1} runs: --max-seconds {args.max_seconds} reached",
                flush=True,
            )
            break
    flops = flops_per_run(info["flops"], config, data)
    mean_s = statistics.mean(seconds)
    return {
        "variant": label,
        "runs": len(accs),
        "mean_test_acc": statistics.mean(accs),
        "std_test_acc": statistics.stdev(accs) if len(accs) > 1 else 0.0,
        "mean_plain_acc": statistics.mean(plain),
        "mean_train_seconds": mean_s,
        "std_train_seconds": statistics.stdev(seconds) if len(seconds) > 1 else 0.0,
        # as airbench times a run: whitening fit, training epochs and the final (TTA) evaluation
        "mean_airbench_timed_seconds": statistics.mean(counted),
        "warmup_seconds": warmup,
        "macs_per_image": info["flops"],
        "params": info["params"],
        "flops_per_run": flops,
        "mfu": flops / mean_s / (args.peak_tflops * 1e12) if device.type == "cuda" else None,
        "test_accs": accs,
        "plain_accs": plain,
        "train_seconds": seconds,
        "airbench_timed_seconds": counted,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", choices=recipe_names(), default="cifar10-fast")
    p.add_argument("--runs", type=int, default=5, help="timed runs per variant (default 5)")
    p.add_argument(
        "--data",
        default=None,
        help="the CIFAR-10 npz or folder (default: $SCRATCHLAB_DATA or shared/data)",
    )
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="torch.compile (default: the recipe's)",
    )
    p.add_argument("--compile-mode", default=None, help="torch.compile mode, e.g. max-autotune")
    p.add_argument(
        "--ablate",
        action="append",
        default=[],
        metavar="FIELD[=VALUE]",
        help="also run with this component off (repeatable)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="change the recipe for every variant (repeatable)",
    )
    p.add_argument(
        "--quick", action="store_true", help="the recipe's tiny CPU smoke configuration, 2 runs"
    )
    p.add_argument("--device", default=None, help="auto, cpu, cuda (default: the recipe's)")
    p.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="stop a variant's runs (after 2) when the next would pass this",
    )
    p.add_argument(
        "--peak-tflops",
        type=float,
        default=H100_BF16_DENSE / 1e12,
        help="dense bf16 peak (H100 SXM: 989)",
    )
    p.add_argument("--no-record", action="store_true", help="do not append to bench/results.jsonl")
    args = p.parse_args(argv)
    if args.quick and "--runs" not in (argv or sys.argv):
        args.runs = 2
    if args.runs < 1:
        p.error("--runs must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = parse_sets(args.set)
    for key, value in (
        ("data_root", args.data or default_data()),
        ("device", args.device),
        ("compile", args.compile),
        ("compile_mode", args.compile_mode),
    ):
        if value is not None:
            overrides[key] = value
    base = recipe_config(args.recipe, args.quick, **overrides)
    variants = [("recipe", base)]
    for spec in args.ablate:
        change = ablation(spec, base)
        variants.append(
            (
                spec if "=" in spec or ";" in spec else f"{spec}->{next(iter(change.values()))}",
                recipe_config(args.recipe, args.quick, **{**overrides, **change}),
            )
        )
    device = resolve_device(base.device)
    start = time.perf_counter()
    tensors = fast_tensors(base, device)
    y_train, y_test = tensors[1], tensors[3]
    synchronize(device)
    data_seconds = time.perf_counter() - start
    print(
        f"{args.recipe}{' (quick)' if args.quick else ''} on {device_name(device)}: "
        f"{len(y_train)} train / {len(y_test)} test images loaded in {data_seconds:.1f} s",
        flush=True,
    )
    results = []
    for label, config in variants:
        result = bench_variant(label, config, tensors, device, args)
        results.append(result)
        delta = result["mean_test_acc"] - results[0]["mean_test_acc"]
        print(
            f"[{label}] mean test acc {result['mean_test_acc']:.2f} +- "
            f"{result['std_test_acc']:.2f}% "
            f"({delta:+.2f} vs recipe), no TTA {result['mean_plain_acc']:.2f}%, train "
            f"{result['mean_train_seconds']:.3f} +- {result['std_train_seconds']:.3f} s "
            f"({result['mean_airbench_timed_seconds']:.3f} s without the evaluations before the "
            "last epoch, as airbench times a run), "
            f"MFU {result['mfu'] if result['mfu'] is None else format(result['mfu'], '.1%')}",
            flush=True,
        )
        if not args.no_record:
            record(
                "cifar_speed",
                device_name(device),
                {
                    "recipe": args.recipe,
                    "quick": args.quick,
                    "compile": config.speed.compile,
                    "compile_mode": config.speed.compile_mode,
                    "cuda_graph": config.speed.cuda_graph,
                    "overrides": {k: v for k, v in overrides.items() if k != "data_root"},
                    "data_seconds": data_seconds,
                    **result,
                },
            )
    return 0


if __name__ == "__main__":
    run_cli(main, "cifar_speed")
