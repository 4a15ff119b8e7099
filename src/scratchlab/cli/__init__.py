"""The `scratchlab` command: one module per area's subcommands in this package.

`experiments` (run-exp, sweep, results, plot, report), `studies` (study), `detect`, `rl` and
`exercises` (exercise, check) each register theirs; this module assembles them and turns user
errors into one line on stderr and exit status 2. Nothing else in scratchlab imports it.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import select
import sys
import threading
from collections.abc import Sequence

from scratchlab import __version__
from scratchlab.errors import ScratchlabError

COMMAND_MODULES = (
    "scratchlab.cli.experiments",
    "scratchlab.cli.studies",
    "scratchlab.cli.detect",
    "scratchlab.cli.rl",
    "scratchlab.cli.exercises",
)

USER_ERROR_EXIT = 2


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are a single line (and exit status 2)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(USER_ERROR_EXIT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every registered subcommand."""
    parser = OneLineParser(prog="scratchlab", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"scratchlab {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=OneLineParser, required=True
    )
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(module_name)
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line; exit 2 with one line on a user error."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quiet:
        os.environ["SCRATCHLAB_QUIET"] = "1"
    if not getattr(args, "func", None):
        parser.print_help()
        sys.exit(USER_ERROR_EXIT)
    try:
        status = args.func(args)
        sys.stdout.flush()  # a reader that went away shows here, not as a message at exit
    except BrokenPipeError:
        if not _stdout_closed():
            raise
        _quiet_stdout()
        sys.exit(1)
    except ScratchlabError as exc:
        message = " ".join((exc.cli or str(exc)).split())
        print(f"scratchlab: error: {message}", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT)
    except KeyboardInterrupt:
        print(
            "scratchlab: interrupted; finished work is saved: run the same command again to "
            "resume (rl train: add --resume)",
            file=sys.stderr,
        )
        sys.exit(130)
    sys.exit(int(status or 0))


def watched() -> bool:
    """Whether a profiler, tracer or coverage tool watches this process: by `sys.setprofile` or
    `sys.settrace`, or since Python 3.12 by `sys.monitoring` (cProfile's way there)."""
    monitoring = getattr(sys, "monitoring", None)
    tools = monitoring is not None and any(
        monitoring.get_tool(tool) is not None for tool in range(6))  # the ids sys.monitoring has
    return sys.getprofile() is not None or sys.gettrace() is not None or tools


def run_command() -> None:
    """The `scratchlab` process (`python -m scratchlab`, the console script): `main`, then an exit
    that runs the exit handlers and flushes the output but skips the interpreter's teardown of
    every loaded module (about a second once torch is loaded). With threads still running, under
    a profiler or tracer (`python -m cProfile -m scratchlab`, which writes its output after this
    returns), or on an unexpected exception, the process exits as usual."""
    code: object = 0
    try:
        main()
    except SystemExit as exc:
        code = 0 if exc.code is None else exc.code
    if watched() or not isinstance(code, int) or any(
            t is not threading.main_thread() and not t.daemon for t in threading.enumerate()):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (`scratchlab results ls DIR | head`)."""
    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no real file, or no poll on this system
        return False


def _quiet_stdout() -> None:
    """Point stdout at devnull, so the flush at exit finds no closed pipe (Python's docs)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    main()
