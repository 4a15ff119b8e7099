"""A run SIGKILLed anywhere in an atomic write, then run again, ends exactly as an unbroken run.

Folder A holds a run that was never interrupted; folder B the same run killed at its Nth atomic
write (checkpoint config, `_best.pt`, course `.pt`, `_last.pt`, results file) and rerun. B must
equal A file for file (no temp files left) and number for number. Each run is a process forked
by kill_job.py's server, so scratchlab and torch are imported once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from scratchlab.util.sealing import CHECKSUM

JOB = Path(__file__).with_name("kill_job.py")
# 3 epochs of 2 batches; atomic writes in order: 1 checkpoints/exp.config.json, then per epoch
# _best.pt, .pt (when test accuracy improved) and _last.pt, and last the results file exp.json.
RUN = ["-q", "run-exp", "--dataset", "digits", "--test-split", "valid", "-M", "mlp", "-H", "8",
       "--batches", "2", "--epochs", "3", "--device", "cpu", "-o", "out"]
NOT_COMPARED = {"timings", "env", "commit"}  # wall times, versions and the checkout's state
NOT_COMPARED_PT = {"Timer", CHECKSUM}  # wall times of epochs, and the checksum over them


@pytest.fixture(scope="module")
def server():
    """kill_job.py's server: scratchlab imported once, one forked process per run."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(JOB)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    yield proc
    proc.stdin.close()
    proc.wait(timeout=60)


def run_job(server, folder: Path, kill_at: str | None = None) -> int:
    """The run in `folder` (results in `folder/out`); its exit status, -9 when killed."""
    folder.mkdir(exist_ok=True)
    server.stdin.write(json.dumps({"cwd": str(folder), "argv": RUN, "kill_at": kill_at}) + "\n")
    server.stdin.flush()
    reply = server.stdout.readline()
    assert reply, "kill_job.py's server died"
    status = json.loads(reply)["status"]
    log = folder / "job.log"
    assert status in (0, -signal.SIGKILL), log.read_text()[-2000:] if log.exists() else ""
    return status


@pytest.fixture(scope="module")
def straight(server, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("straight")
    assert run_job(server, folder) == 0
    return folder / "out"


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def assert_same(a, b, where: str) -> None:
    """Equal nested values: tensors element for element, dtype and shape included."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype, where
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a.keys() - NOT_COMPARED_PT:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b or (a != a and b != b), f"{where}: {a!r} != {b!r}"


def content(path: Path):
    if path.suffix == ".pt":
        return torch.load(path, map_location="cpu", weights_only=True)
    data = json.loads(path.read_text())
    return {k: v for k, v in data.items() if k not in NOT_COMPARED}


@pytest.mark.parametrize("kill_at", [
    "partial:1",   # the checkpoint config, half written: nothing else exists yet
    "renamed:2",   # epoch 1's _best.pt in place, its course file and _last.pt not written
    "written:3",   # epoch 1's course file fully written, not renamed
    "partial:5",   # epoch 2's _last.pt half written (epoch 2 does not improve on epoch 1)
    "renamed:8",   # epoch 3's _last.pt in place, the results file not written
    "written:9",   # the results file fully written, not renamed: training is all done
])
def test_killed_write_then_rerun_equals_an_unbroken_run(tmp_path, server, straight, kill_at):
    assert run_job(server, tmp_path, kill_at) == -signal.SIGKILL
    temps = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert bool(temps) == (not kill_at.startswith("renamed")), temps
    assert run_job(server, tmp_path) == 0
    resumed = tmp_path / "out"
    assert files(resumed) == files(straight)  # no .tmp file left either
    for name in files(straight):
        assert_same(content(straight / name), content(resumed / name), name)
    record = json.loads((resumed / "exp.json").read_text())
    assert record["status"] == "ok" and record["results"]["num_epochs"] == 3
