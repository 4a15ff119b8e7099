"""The CNN architecture study: depth, width and residual connections on CIFAR-10 (exp1_1 ... exp2).

    scratchlab study cnn-architecture [--quick] [--device cuda] [--seeds N]
    python -m scratchlab.studies.cnn_architecture --device cuda --jobs 4 [--search]
    from scratchlab.studies import cnn_architecture; result = cnn_architecture.run(quick=True)

Experiments (run names follow the classic convention, e.g. `exp1_3_L2_K64-128-256`):
exp1_1 CNN depth, exp1_2 CNN width, exp1_3 growing widths, exp1_4 ResNet, exp2 YourCNN.
What each trains is in `cnn_architecture_spec` (and `configs/cnn_architecture.yaml`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scratchlab.data import get_dataset
from scratchlab.errors import ScratchlabError
from scratchlab.experiments import ExperimentConfig, run_configs
from scratchlab.experiments.runner import read_result, result_path
from scratchlab.studies.base import StudyResult, seed_list, study_dir
from scratchlab.studies.cnn_architecture_analysis import findings, results_table, summarize
from scratchlab.studies.cnn_architecture_report import build_report, figures, pooling_text
from scratchlab.studies.cnn_architecture_search import (
    chosen_hyperparameters,
    run_search,
    search_frame,
)
from scratchlab.studies.cnn_architecture_spec import (
    RunSpec,
    StudySpec,
    executor_for,
    load_spec,
    run_config,
    study_runs,
)
from scratchlab.util import atomic_write_json, resolve_device

NAME = "cnn-architecture"
DESCRIPTION = "CNN, ResNet and YourCNN on CIFAR-10: depth, width, residual connections (exp1_1 ... exp2)"
CUDA_JOBS = 4  # runs sharing one GPU at a time by default, as threads (bench/cnn_study_speed.py measures it)
EVAL_NOTE = "the CIFAR-10 test split serves as the validation set; training images come from the train split"


def device_string(device: str) -> str:
    """`auto` resolved to `cuda` or `cpu`; other names kept."""
    return str(resolve_device(device)) if device == "auto" else device


def data_overrides(
    spec: StudySpec, quick: bool, device: str, data_root: str | Path | None = None,
    train_limit: int | None = None, test_limit: int | None = None, epochs: int | None = None,
) -> dict[str, Any]:
    """Config fields every run shares beyond the spec: data sizes, budget and where the data is."""
    out: dict[str, Any] = {}
    if quick:
        out.update(train_limit=spec.quick.train_limit, test_limit=spec.quick.test_limit, epochs=spec.quick.epochs)
    for key, value in (("train_limit", train_limit), ("test_limit", test_limit), ("epochs", epochs)):
        if value is not None:
            out[key] = value
    if data_root is not None:
        out["data_root"] = str(data_root)
    if device.startswith("cuda") and spec.base.get("dataset", "cifar10") == "cifar10":
        # Convert and subset the images on the GPU instead of the CPU.
        out["dataset_options"] = {**spec.base.get("dataset_options", {}), "device": device}
    return out


def study_configs(
    quick: bool = False, seeds: list[int] | None = None, out_dir: str | Path | None = None,
    device: str = "cpu", spec: StudySpec | str | Path | None = None, hyper: dict[str, Any] | None = None,
    experiments: list[str] | None = None, overrides: dict[str, Any] | None = None,
) -> list[tuple[RunSpec, ExperimentConfig]]:
    """Every (architecture, config) pair of the study: one config per architecture and seed."""
    spec = load_spec(spec)
    seeds = seeds or [0]
    runs_dir = study_dir(NAME, out_dir) / "runs"
    hyper = hyper if hyper is not None else dict(spec.hyperparameters)
    suffix = len(seeds) > 1
    return [
        (run, run_config(run, spec, hyper, seed, runs_dir, device, overrides or {}, f"_s{seed}" if suffix else ""))
        for run in study_runs(spec, quick, experiments) for seed in seeds
    ]


def experiment_configs(quick: bool = False, seeds: list[int] | None = None, out_dir: str | Path | None = None,
                       device: str = "cpu") -> list[ExperimentConfig]:
    """The configs of every run of the study (default spec and hyper-parameters)."""
    return [config for _, config in study_configs(quick, seeds, out_dir, device)]


def warm_data_cache(spec: StudySpec, overrides: dict[str, Any]) -> None:
    """Decode CIFAR-10 once here, so runs (and worker processes) read the decoded cache."""
    if spec.base.get("dataset", "cifar10") != "cifar10":
        return
    for split in {spec.base.get("train_split", "train"), spec.base.get("test_split", "test")}:
        get_dataset("cifar10", split, root=overrides.get("data_root", spec.base.get("data_root")), dtype="uint8")


def execute(configs: list[ExperimentConfig], jobs: int, verbose: bool) -> None:
    """Train every unfinished config, `jobs` at a time, printing one line per finished run."""

    def report(outcome) -> None:
        if not verbose:
            return
        detail = outcome.error or ""
        if outcome.status == "ok":
            summary = read_result(result_path(by_name[outcome.run_name])).get("summary", {})
            detail = f"best {summary.get('best_test_acc', float('nan')):.1f}% in {summary.get('train_seconds', 0):.1f} s"
        print(f"  {outcome.status:6s} {outcome.run_name} {detail}", flush=True)

    by_name = {c.run_name: c for c in configs}
    if jobs > 1:
        configs = sorted(configs, key=cost, reverse=True)  # longest first balances the workers
    run_configs(configs, executor=executor_for(configs[0].device) if configs else "local", jobs=jobs,
                on_outcome=report)


def cost(config: ExperimentConfig) -> float:
    """Relative training cost of a config: multiply-adds per image times images."""
    import torch

    from scratchlab.experiments.pipeline import build_run_model
    from scratchlab.models import summary

    with torch.device("meta"):  # shapes only: no weights, no arithmetic
        flops = summary(build_run_model(config, (3, 32, 32), 10), (3, 32, 32)).flops
    return flops * (config.train_limit or 50000) * config.epochs


def run(
    quick: bool = False, seeds: int | None = None, device: str = "auto", out_dir: str | Path | None = None,
    *, jobs: int | None = None, search: bool = False, spec: StudySpec | str | Path | dict | None = None,
    data_root: str | Path | None = None, train_limit: int | None = None, test_limit: int | None = None,
    epochs: int | None = None, experiments: list[str] | None = None, verbose: bool = True,
    report_only: bool = False,
) -> StudyResult:
    """Train the study's runs (skipping finished ones) and analyse them.

    Args:
        quick: tiny budget (the spec's `quick` sizes, first runs of each experiment).
        seeds: seeds per architecture (default 1).
        device: auto, cpu, cuda; bf16 and channels-last are used on CUDA only.
        out_dir: output folder (default results/studies/cnn-architecture).
        jobs: runs at a time (threads sharing the GPU on CUDA, worker processes elsewhere);
            default 4 on CUDA, 1 elsewhere.
        search: first run the hyper-parameter grid and use its best point.
        spec: another study spec (YAML path or mapping), e.g. an edited copy of configs/cnn_architecture.yaml.
        data_root: where CIFAR-10 is (default: the dataset's own search path).
        train_limit, test_limit, epochs: override the spec's data sizes and epoch budget.
        experiments: run only these experiments (e.g. ["exp1_1", "exp2"]).
        verbose: print one line per finished run.
        report_only: train nothing; rebuild table, figures and report from the runs already in the
            output folder (jobs, wall time and command come from its study.json).
    """
    start = time.perf_counter()
    dev = device_string(device)
    jobs = jobs or (CUDA_JOBS if dev.startswith("cuda") else 1)
    command = study_command(quick=quick, seeds=seeds, device=device, out_dir=out_dir, jobs=jobs, search=search,
                            spec=spec, data_root=data_root, train_limit=train_limit, test_limit=test_limit,
                            epochs=epochs, experiments=experiments)
    spec = load_spec(spec)
    out = study_dir(NAME, out_dir)
    seed_values = seed_list(seeds, quick, full_default=1, quick_default=1)
    overrides = data_overrides(spec, quick, dev, data_root, train_limit, test_limit, epochs)
    if report_only:
        before = stored_setup(out)
    else:
        warm_data_cache(spec, overrides)
        if search:
            run_search(spec, out, dev, overrides, jobs, verbose)
    hyper, source = chosen_hyperparameters(spec, out)
    pairs = study_configs(quick, seed_values, out, dev, spec, hyper, experiments, overrides)
    if not report_only:
        if verbose:
            print(f"{NAME}: {len(pairs)} runs on {dev}, {jobs} at a time -> {out / 'runs'}", flush=True)
        execute([c for _, c in pairs], jobs, verbose)
    wall = time.perf_counter() - start
    table, fits = results_table(pairs)
    notes = findings(table)
    figs = figures(table, fits)
    first = pairs[0][1]
    setup = {
        "train_images": first.train_limit or 50000, "eval_images": first.test_limit or 10000, "eval_note": EVAL_NOTE,
        "epochs": first.epochs, "patience": first.early_stopping, "seeds": len(seed_values), "device": dev,
        **run_environment(pairs), "command": command,
        "jobs": jobs, "wall_seconds": wall, "hyperparameters": hyper, "hyper_source": source,
        "pooling": pooling_text({e: g for e, g in spec.experiments.items() if e in set(table["experiment"])}),
        "search": search_frame(out),
    }
    if report_only:  # the run's own record of how and how fast it trained
        setup.update({k: before[k] for k in ("jobs", "wall_seconds", "command") if k in before})
    atomic_write_json(out / "study.json", {k: v for k, v in setup.items() if k != "search"} | {"runs": len(pairs)})
    report = build_report(table, notes, figs, setup)
    return StudyResult(NAME, table, summarize(table), figs, notes, out, report)


def study_command(**args: Any) -> str:
    """The command line that runs the study with these arguments."""
    parts = ["python -m scratchlab.studies.cnn_architecture"]
    flags = {"quick": "--quick", "search": "--search"}
    options = {"seeds": "--seeds", "device": "--device", "out_dir": "--out", "jobs": "--jobs", "spec": "--spec",
               "data_root": "--data", "train_limit": "--train-limit", "test_limit": "--test-limit",
               "epochs": "--epochs"}
    parts += [flag for key, flag in flags.items() if args.get(key)]
    for key, option in options.items():
        value = args.get(key)
        if value is not None and not isinstance(value, dict | StudySpec):
            parts.append(f"{option} {value}")
    if args.get("experiments"):
        parts.append("--experiments " + " ".join(args["experiments"]))
    return " ".join(parts)


def run_environment(pairs: list[tuple[RunSpec, ExperimentConfig]]) -> dict[str, Any]:
    """The device name and torch version recorded by the study's first finished run."""
    for _, config in pairs:
        path = result_path(config)
        if path.exists():
            env = read_result(path).get("environment") or {}
            return {"device_name": env.get("device_name"), "torch": env.get("torch")}
    return {"device_name": None, "torch": None}


def stored_setup(out: Path) -> dict[str, Any]:
    """The study.json of a finished run of the study in `out` (for --report-only)."""
    path = out / "study.json"
    if not path.exists():
        raise ScratchlabError(f"--report-only needs a finished study in {out}: no study.json there")
    return json.loads(path.read_text())


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m scratchlab.studies.cnn_architecture`: the study with all of its options."""
    p = argparse.ArgumentParser(prog="python -m scratchlab.studies.cnn_architecture", description=DESCRIPTION)
    p.add_argument("--quick", action="store_true", help="tiny budget: a minute on a CPU")
    p.add_argument("--seeds", type=int, default=None, help="seeds per architecture (default 1)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument("--out", type=Path, default=None, help="output folder (default results/studies/cnn-architecture)")
    p.add_argument("--jobs", type=int, default=None, help=f"runs at a time (default {CUDA_JOBS} on CUDA, else 1)")
    p.add_argument("--search", action="store_true", help="run the hyper-parameter grid first and use its best point")
    p.add_argument("--spec", type=Path, default=None, help="study spec YAML (default: the built-in one)")
    p.add_argument("--data", type=Path, default=None, help="CIFAR-10 location (folder or cifar10-jpeg.npz)")
    p.add_argument("--train-limit", type=int, default=None)
    p.add_argument("--test-limit", type=int, default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--experiments", nargs="+", default=None, help="e.g. exp1_1 exp2")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: rebuild table, figures and report from the runs in the output folder")
    args = p.parse_args(argv)
    try:
        result = run(args.quick, args.seeds, args.device, args.out, jobs=args.jobs, search=args.search,
                     spec=args.spec, data_root=args.data, train_limit=args.train_limit,
                     test_limit=args.test_limit, epochs=args.epochs, experiments=args.experiments,
                     report_only=args.report_only)
    except ScratchlabError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    out = result.save()
    for finding in result.findings:
        print(f"- {finding}")
    print(f"report: {out / 'report.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
