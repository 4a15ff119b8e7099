"""`torchrun --nproc-per-node 2 -m scratchlab run-exp ... --ddp` on CPU (gloo) equals one
process."""

import json
import os
import subprocess
import sys

import numpy as np

ARGS = [
    "run-exp",
    "--dataset",
    "digits",
    "--test-split",
    "valid",
    "-M",
    "mlp",
    "-H",
    "32",
    "--epochs",
    "3",
    "--batches",
    "6",
    "--bs-train",
    "32",
    "--bs-test",
    "64",
    "--lr",
    "0.01",
    "--device",
    "cpu",
    "--seed",
    "3",
]


def run(cmd, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SCRATCHLAB_QUIET": "1"}
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def test_two_process_ddp_run_matches_a_single_process_run(tmp_path):
    single = run([sys.executable, "-m", "scratchlab", *ARGS, "-n", "single", "-o", "out"], tmp_path)
    assert single.returncode == 0, single.stderr
    ddp = run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "scratchlab",
            *ARGS,
            "-n",
            "ddp",
            "-o",
            "out",
            "--ddp",
        ],
        tmp_path,
    )
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    assert ddp.stdout.count("best test accuracy") == 1  # only rank 0 reports
    a = json.loads((tmp_path / "out" / "single.json").read_text())
    b = json.loads((tmp_path / "out" / "ddp.json").read_text())
    assert b["summary"]["world_size"] == 2 and a["summary"]["world_size"] == 1
    for key in ("train_loss", "test_loss", "train_acc", "test_acc"):
        np.testing.assert_allclose(b["results"][key], a["results"][key], rtol=1e-5, atol=1e-6)
