"""`scratchlab study list | NAME [--quick] [--seeds N] [--device D] [--out DIR] [options]`."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

# study options as flags: name -> (flag, argparse keyword arguments)
OPTION_FLAGS: dict[str, tuple[str, dict]] = {
    "jobs": ("--jobs", {"type": int, "help": "runs at a time, where the study takes it"}),
    "data_root": (
        "--data-root",
        {"help": "where the study's dataset lives (e.g. the CIFAR-10 file)"},
    ),
    "search": (
        "--search",
        {
            "action": "store_true",
            "help": "run the study's hyper-parameter search first, where it has one",
        },
    ),
    "batched": (
        "--batched",
        {
            "choices": ["auto", "on", "off"],
            "help": "train runs of one "
            "architecture together (auto) or one at a time (off), where the "
            "study takes it",
        },
    ),
    "report_only": (
        "--report-only",
        {
            "action": "store_true",
            "help": "train nothing: rebuild table, figures and report from the runs in --out, "
            "where the study takes it (any study run again on its --out reads its finished "
            "runs back instead of training them)",
        },
    ),
    "experiments": (
        "--experiments",
        {
            "nargs": "+",
            "help": "run only these experiments, where the study has several (e.g. exp1_1 exp2)",
        },
    ),
    "spec": ("--spec", {"type": Path, "help": "the study's settings file, where it has one"}),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `study` subcommand to the `scratchlab` parser."""
    p = subparsers.add_parser(
        "study",
        help="run a packaged study (scratchlab study list)",
        description="Run a packaged study: its experiments, table.csv, "
        "summary.csv, figures and report.html.",
    )
    p.add_argument("name", help="study name, or 'list'")
    p.add_argument(
        "--quick",
        action="store_true",
        help="small budget: a smoke test in minutes on a CPU, not evidence",
    )
    p.add_argument(
        "--seeds", type=int, default=None, help="seeds per condition (default: the study's)"
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument(
        "--out", type=Path, default=None, help="output folder (default results/studies/NAME)"
    )
    for dest, (flag, kwargs) in OPTION_FLAGS.items():
        p.add_argument(flag, dest=dest, default=None, **kwargs)
    p.set_defaults(func=cmd_study)


def cmd_study(args: argparse.Namespace) -> int:
    from scratchlab.studies.base import run_study
    from scratchlab.studies.registry import STUDIES, get_study

    if args.name == "list":
        for name in STUDIES:
            print(f"{name:22s} {get_study(name).description}")
        return 0
    cls = get_study(args.name)
    given = {k: getattr(args, k) for k in OPTION_FLAGS}
    options = {k: v for k, v in given.items() if v is not None and v is not False}
    start = time.perf_counter()
    study = cls(device=args.device, out_dir=args.out, **options)
    result = run_study(study, quick=args.quick, seeds=args.seeds)
    shown = result.headline if result.headline is not None else result.summary
    if not shown.empty:
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    for finding in result.findings:
        print(f"- {finding}")
    out = result.out_dir or study.out
    report = out / "report.html"
    where = f"report: {report}" if report.exists() else f"results: {out}"
    phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.seconds.items())
    print(f"study {args.name} finished in {time.perf_counter() - start:.0f} s"
          f"{f' ({phases})' if phases else ''}; {where}")
    return 0
