"""`scratchlab study list | NAME [--quick] [--seeds N] [--device D] [--out DIR]`."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `study` subcommand to the `scratchlab` parser."""
    p = subparsers.add_parser("study", help="run a packaged study (scratchlab study list)",
                              description="Run a packaged study: its experiments, table.csv, figures and report.html.")
    p.add_argument("name", help="study name, or 'list'")
    p.add_argument("--quick", action="store_true", help="small budget: minutes on a CPU")
    p.add_argument("--seeds", type=int, default=None, help="seeds per condition (default: the study's)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument("--out", type=Path, default=None, help="output folder (default results/studies/NAME)")
    p.add_argument("--jobs", type=int, default=None, help="runs at a time, where the study supports it")
    p.add_argument("--data-root", default=None, help="where the study's dataset lives (e.g. the CIFAR-10 file)")
    p.add_argument("--search", action="store_true", help="run the study's hyper-parameter search first, where it has one")
    p.add_argument("--batched", choices=["auto", "on", "off"], default=None,
                   help="train runs of one architecture together (auto) or one at a time (off), where the study supports it")
    p.set_defaults(func=cmd_study)


def extra_options(study, args: argparse.Namespace) -> dict:
    """The optional flags that were given, each checked against what the study's `run` accepts."""
    import inspect

    from scratchlab.errors import ConfigError

    given = {"jobs": args.jobs, "data_root": args.data_root, "search": args.search or None, "batched": args.batched}
    given = {k: v for k, v in given.items() if v is not None}
    accepted = inspect.signature(study.run).parameters
    unsupported = [k for k in given if k not in accepted]
    if unsupported:
        flags = ", ".join("--" + k.replace("_", "-") for k in unsupported)
        raise ConfigError(f"study {study.NAME!r} does not take {flags}")
    return given


def cmd_study(args: argparse.Namespace) -> int:
    from scratchlab.studies.registry import STUDIES, get_study

    if args.name == "list":
        for name in STUDIES:
            print(f"{name:22s} {get_study(name).DESCRIPTION}")
        return 0
    study = get_study(args.name)
    start = time.perf_counter()
    result = study.run(quick=args.quick, seeds=args.seeds, device=args.device, out_dir=args.out, **extra_options(study, args))
    out = result.save()
    shown = result.headline if result.headline is not None else result.summary
    if not shown.empty:
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    for finding in result.findings:
        print(f"- {finding}")
    report = out / "report.html"
    where = f"report: {report}" if report.exists() else f"results: {out}"
    print(f"study {args.name} finished in {time.perf_counter() - start:.0f} s; {where}")
    return 0
