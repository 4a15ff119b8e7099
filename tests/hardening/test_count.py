"""The size of the bad-input suite, and a few cases through the real `scratchlab` process."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
SUITES = ["test_cli_flags", "test_sweep_files", "test_results_files", "test_checkpoints",
          "test_cifar_npz", "test_out_dirs"]


def case_counts() -> dict[str, int]:
    counts = {}
    for name in SUITES:
        spec = importlib.util.spec_from_file_location(f"_hardening_{name}", HERE / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        counts[name] = len(module.CASES)
    return counts


def test_at_least_300_cases():
    counts = case_counts()
    print(f"\nbad-input cases: {sum(counts.values())} ({counts})")
    assert sum(counts.values()) >= 300


@pytest.mark.parametrize("argv", [
    ["run-exp", "--epochs", "0"],
    ["run-exp", "--dataset", "nope"],
    ["sweep", "missing.yaml"],
    ["results", "show", "garbage.json"],
    ["rl"],
])
def test_real_entry_point(argv, tmp_path):
    (tmp_path / "garbage.json").write_text("[1, 2]")
    proc = subprocess.run([sys.executable, "-m", "scratchlab", *argv], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.json"]
