"""The `scratchlab` command itself: fast to start, every area's subcommands registered."""

import json
import subprocess
import sys
import types

from scratchlab import __version__
from scratchlab.cli import build_parser


def modules_imported(code: str, names: set[str]) -> list[str]:
    """Which of `names` a fresh interpreter has imported after running `code`."""
    check = f"{code}; import json, sys; print(json.dumps(sorted({names!r} & set(sys.modules))))"
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                         check=True).stdout.strip()
    return json.loads(out)


def test_building_the_parser_imports_no_heavy_library():
    code = "import scratchlab.cli as c; c.build_parser()"
    assert modules_imported(code, {"torch", "pandas", "ultralytics", "gymnasium"}) == []


def test_a_study_imports_torchvision_and_scikit_learn_only_where_it_uses_them():
    code = "import scratchlab.studies.inductive_bias, scratchlab.viz, scratchlab.classifiers"
    assert modules_imported(code, {"torchvision", "sklearn"}) == []


def test_every_area_registers_its_commands():
    commands = set(build_parser()._subparsers._group_actions[0].choices)
    assert {"run-exp", "sweep", "results", "plot", "report", "study", "detect", "rl"} <= commands


def run_command_process(argv: list[str]) -> subprocess.CompletedProcess:
    """`run_command` in a fresh process with an exit handler that prints, and a torch tensor."""
    code = ("import atexit, sys, torch\n"
            "atexit.register(print, 'exit handler ran')\n"
            "torch.ones(3)\n"
            f"sys.argv = ['scratchlab', *{argv!r}]\n"
            "from scratchlab.cli import run_command\n"
            "run_command()\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_the_command_exits_with_its_status_output_and_exit_handlers():
    done = run_command_process(["--version"])
    assert done.returncode == 0
    assert done.stdout.splitlines() == [f"scratchlab {__version__}", "exit handler ran"]
    bad = run_command_process(["run-exp", "--epochs", "-3"])
    assert bad.returncode == 2 and bad.stdout == "exit handler ran\n"
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("scratchlab: error:")


def test_a_tool_watching_by_sys_monitoring_counts_as_watching(monkeypatch):
    from scratchlab import cli

    class Monitoring:  # Python 3.12's sys.monitoring with cProfile's tool id (2) in use
        PROFILER_ID = 2

        def get_tool(self, tool):
            return "cProfile" if tool == self.PROFILER_ID else None

    monkeypatch.setattr(sys, "monitoring", Monitoring(), raising=False)
    assert cli.watched()
    monkeypatch.setattr(sys, "monitoring", types.SimpleNamespace(get_tool=lambda tool: None))
    assert cli.watched() == (sys.getprofile() is not None or sys.gettrace() is not None)


def test_a_profiled_command_still_writes_its_profile(tmp_path):
    out = tmp_path / "cli.prof"
    done = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), "-m", "scratchlab",
                           "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and out.stat().st_size > 0
