"""`scratchlab exercise new | list` and `scratchlab check`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scratchlab.exercises.grader import PartResult


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `exercise` and `check` subcommands to the `scratchlab` parser."""
    p = subparsers.add_parser(
        "exercise",
        help="student workspaces cut from the library's own source",
        description="Make a student workspace: the marked bodies stubbed, a README per part.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p), required=True)
    new = actions.add_parser("new", help="write a student workspace into DIR (new or empty)")
    new.add_argument("dir", type=Path)
    new.add_argument(
        "--parts",
        default=None,
        help="comma-separated parts (default: all; see scratchlab exercise list)",
    )
    new.set_defaults(func=cmd_new)
    listing = actions.add_parser("list", help="the parts and the bodies each asks for")
    listing.set_defaults(func=cmd_list)

    c = subparsers.add_parser(
        "check",
        help="grade an exercise workspace part by part (or --reference)",
        description="Grade a workspace with the library's own checks, each part in its own "
        "process under a time limit. Exit 0 when every selected part passes.",
    )
    c.add_argument("dir", type=Path, nargs="?", help="the workspace (omit with --reference)")
    c.add_argument(
        "--part",
        action="append",
        default=None,
        help="part(s) to grade, repeatable or comma-separated (default: all)",
    )
    c.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    c.add_argument(
        "--reference",
        action="store_true",
        help="grade the library's own implementation instead of a workspace",
    )
    c.add_argument("--time-limit", type=float, default=None, help="seconds per part (default 60)")
    c.set_defaults(func=cmd_check)


def cmd_new(args: argparse.Namespace) -> int:
    from scratchlab.exercises.manifest import select
    from scratchlab.exercises.workspace import new_workspace

    parts = select(None if args.parts is None else [args.parts])
    new_workspace(args.dir, parts)
    print(f"wrote {len(parts)} parts to {args.dir}: {', '.join(p.name for p in parts)}")
    print(f"students check their work with: scratchlab check {args.dir}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from scratchlab.exercises.manifest import PARTS_LIST

    for part in PARTS_LIST:
        bodies = ", ".join(t.removeprefix("scratchlab.") for t in part.targets)
        print(f"{part.name:<18} {len(part.checks):>2} checks  {part.title}: {bodies}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from scratchlab.errors import ConfigError
    from scratchlab.exercises import grader
    from scratchlab.exercises.manifest import select
    from scratchlab.exercises.worker import Job
    from scratchlab.exercises.workspace import read_workspace

    if args.reference == (args.dir is not None):
        raise ConfigError("give a workspace folder or --reference (one of the two)")
    limit = grader.DEFAULT_TIME_LIMIT if args.time_limit is None else args.time_limit
    if not limit > 0:
        raise ConfigError(f"--time-limit must be positive, got {limit}")
    if args.reference:
        jobs, graded = grader.reference_jobs(select(args.part)), "reference"
    else:
        found = {p.name: p for p in read_workspace(args.dir)}
        chosen = select(args.part, list(found))
        jobs = [Job(p.name, str(found[p.name].path), found[p.name].defined) for p in chosen]
        graded = str(args.dir)
    if not args.json:
        print(grader.table_header(), flush=True)
    results = grader.grade(jobs, limit, None if args.json else _print_row)
    if args.json:
        print(grader.dumps(results, graded))
    else:
        print(grader.summary(results))
    return 0 if all(r.passed for r in results) else 1


def _print_row(result: PartResult) -> None:
    from scratchlab.exercises.grader import table_row

    print(table_row(result), flush=True)
