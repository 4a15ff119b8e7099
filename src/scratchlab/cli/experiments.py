"""`scratchlab run-exp | sweep | results | plot | report`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from scratchlab.cli.config_flags import add_config_flags

if TYPE_CHECKING:
    from scratchlab.experiments import ExperimentConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the experiment subcommands to the `scratchlab` parser."""
    p = subparsers.add_parser(
        "run-exp",
        help="train one run; writes <out-dir>/<run name>.json",
        description="Train one run. Every ExperimentConfig field has a flag; a rerun resumes "
        "from its checkpoint. The results file is <out-dir>/<name>_L<L>_K<K>.json for model "
        "families that read K and L, else <out-dir>/<name>.json.",
    )
    add_config_flags(p)
    p.set_defaults(func=cmd_run_exp)

    p = subparsers.add_parser("sweep", help="run every config of a sweep YAML file (resumable)")
    p.add_argument("file", type=Path, help="sweep YAML: name, base, grid, seeds, out_dir")
    p.add_argument("--out-dir", type=Path, default=None, help="override the file's out_dir")
    p.add_argument(
        "--executor",
        choices=["local", "threads", "ray"],
        default="local",
        help="local: worker processes; threads: runs sharing one GPU, a CUDA stream each; ray",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs at a time for local and threads (default 1: in this process)",
    )
    p.add_argument(
        "--address", default=None, help="Ray cluster address (default: start a local Ray)"
    )
    p.add_argument("--gpus-per-run", type=float, default=None, help="GPUs each Ray task reserves")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first failing run")
    p.add_argument(
        "--batched",
        choices=["auto", "on", "off"],
        default="auto",
        help="train same-architecture runs together (auto: groups of >= 2 small "
        "models, on a GPU or with --jobs 1 on a CPU; docs/speed.md)",
    )
    p.set_defaults(func=cmd_sweep)

    p = subparsers.add_parser("results", help="list, show or compare stored results")
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p), required=True)
    ls = actions.add_parser("ls", help="one line per run")
    ls.add_argument("dir", type=Path)
    ls.add_argument("pattern", nargs="?", default="*")
    ls.set_defaults(func=cmd_results_ls)
    show = actions.add_parser("show", help="one run's config and summary")
    show.add_argument("path", type=Path, help="a results JSON file")
    show.set_defaults(func=cmd_results_show)
    compare = actions.add_parser(
        "compare", help="best test accuracy mean +- std over seeds, per run group"
    )
    compare.add_argument("dir", type=Path)
    compare.add_argument("pattern", nargs="?", default="*")
    compare.add_argument("--metric", default="best_test_acc")
    compare.set_defaults(func=cmd_results_compare)

    p = subparsers.add_parser("plot", help="overlaid learning curves of matching runs, one PNG")
    p.add_argument("dir", type=Path)
    p.add_argument("pattern", help="glob on run names, e.g. 'exp1_1_L*_K32*'")
    p.add_argument(
        "-o", "--output", type=Path, default=None, help="PNG path (default: <dir>/<pattern>.png)"
    )
    p.set_defaults(func=cmd_plot)

    p = subparsers.add_parser("report", help="a self-contained HTML report of a results folder")
    p.add_argument("dir", type=Path)
    p.add_argument(
        "-o", "--output", type=Path, default=None, help="HTML path (default: <dir>/report.html)"
    )
    p.set_defaults(func=cmd_report)


def cmd_run_exp(args: argparse.Namespace) -> int:
    from scratchlab.cli.config_flags import config_from_args
    from scratchlab.experiments.run import run_experiment
    from scratchlab.util import distributed

    config = config_from_args(args)
    if distributed.is_main_process():
        print(budget_line(config), flush=True)
    record = run_experiment(config, verbose=True)
    if distributed.is_main_process():
        fit = record.fit
        epochs = plural(fit.num_epochs if fit else 0, "epoch")
        print(
            f"best test accuracy {record.summary['best_test_acc']:.2f}% after {epochs}; "
            f"results: {record.path}"
        )
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from scratchlab.experiments.runs import run_configs
    from scratchlab.experiments.sweep import expand, load_sweep, write_manifest

    spec = load_sweep(args.file)
    configs = expand(spec, args.out_dir)

    def start() -> None:  # every run checked: the manifest, then the runs
        write_manifest(spec, configs)
        print(f"sweep {spec.name}: {plural(len(configs), 'run')} -> {configs[0].out_dir}",
              flush=True)

    def report(record):
        status = "done" if record.cached else record.status
        detail = f": {record.error}" if record.error else ""
        print(f"  {status:6s} {record.config.run_name}{detail}", flush=True)

    records = run_configs(
        configs,
        executor=args.executor,
        jobs=args.jobs,
        fail_fast=args.fail_fast,
        address=args.address,
        gpus_per_run=args.gpus_per_run,
        on_record=report,
        batched=args.batched,
        before_first_run=start,
    )
    failed = [r for r in records if not r.ok]
    print(
        f"sweep {spec.name}: {len(records) - len(failed)} finished, {len(failed)} failed; "
        f"compare with: scratchlab results compare {configs[0].out_dir}"
    )
    return 1 if failed else 0


IMPROVES = {"test_loss": "a lower test loss", "train_loss": "a lower training loss",
            "test_acc": "a higher test accuracy", "train_acc": "a higher training accuracy"}


def budget_line(config: ExperimentConfig) -> str:
    """What a run will train, in one line: epochs, batches per epoch, early stopping, with the
    flags that change them."""
    b = config.budget
    per_epoch = (f"of at most {b.batches} batches of {b.bs_train} (--batches)" if b.batches
                 else f"over the whole training split in batches of {b.bs_train}")
    stop = (f"stops after {b.early_stopping} epochs without {IMPROVES[b.early_stopping_monitor]} "
            "(--early-stopping)" if b.early_stopping else "no early stopping")
    return f"{config.run_name}: up to {plural(b.epochs, 'epoch')} {per_epoch}; {stop}"


def plural(count: int, word: str) -> str:
    """`1 epoch`, `3 epochs`."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def cmd_results_ls(args: argparse.Namespace) -> int:
    from scratchlab.experiments.store import runs_table

    table = runs_table(args.dir, args.pattern)
    print(
        table.drop(columns=["error"]).to_string(index=False)
        if len(table)
        else f"no results in {args.dir}"
    )
    return 0


def cmd_results_show(args: argparse.Namespace) -> int:
    import json

    from scratchlab.experiments.records import load_record

    data = load_record(args.path).to_dict()
    keys = ("config", "summary", "timings", "status", "error", "env", "commit")
    print(json.dumps({k: data.get(k) for k in keys}, indent=2))
    return 0


def cmd_results_compare(args: argparse.Namespace) -> int:
    from scratchlab.errors import ConfigError
    from scratchlab.experiments.store import aggregate, runs_table

    table = runs_table(args.dir, args.pattern)
    if args.metric not in table.columns:
        raise ConfigError(f"unknown metric {args.metric!r}; use one of {list(table.columns[2:])}")
    if table.empty:
        raise ConfigError(f"no results in {args.dir} match {args.pattern!r}")
    groups = aggregate(table, args.metric)
    print(groups.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    failed = table[table["status"] != "ok"]
    for _, row in failed.iterrows():
        print(f"failed: {row['run_name']}: {row['error']}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from scratchlab.errors import ConfigError
    from scratchlab.experiments.records import load_records
    from scratchlab.util import atomic_write_bytes
    from scratchlab.util.folders import check_out_file
    from scratchlab.viz import figure_to_png, plot_exp_results

    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in args.pattern)
    output = args.output or Path(args.dir) / f"{safe}.png"
    check_out_file(output)
    runs = [r for r in load_records(args.dir, args.pattern) if r.fit is not None]
    if not runs:
        raise ConfigError(f"no finished runs in {args.dir} match {args.pattern!r}")
    fig, _ = plot_exp_results({r.config.run_name: r.fit for r in runs})
    atomic_write_bytes(output, figure_to_png(fig))  # a killed plot leaves no half-written file
    print(f"plot of {plural(len(runs), 'run')}: {output}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from scratchlab.experiments.report import build_report
    from scratchlab.util.folders import check_out_file

    output = args.output or Path(args.dir) / "report.html"
    check_out_file(output)
    path = build_report(args.dir).save(output)
    print(f"report: {path}")
    return 0
