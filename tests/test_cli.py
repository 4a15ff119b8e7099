"""The `scratchlab` command itself: fast to start, every area's subcommands registered."""

import subprocess
import sys

from scratchlab.cli import build_parser


def test_building_the_parser_imports_no_heavy_library():
    code = (
        "import sys, scratchlab.cli as c; c.build_parser(); "
        "print(sorted({'torch', 'pandas', 'ultralytics', 'gymnasium'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def test_every_area_registers_its_commands():
    commands = set(build_parser()._subparsers._group_actions[0].choices)
    assert {"run-exp", "sweep", "results", "plot", "report", "study", "detect", "rl"} <= commands
