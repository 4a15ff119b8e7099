"""`scratchlab rl ...` end to end with tiny budgets."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("gymnasium", reason="gymnasium is not installed (pip install 'scratchlab[rl]')")

from scratchlab.cli import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny run made through the real command line (a subprocess)."""
    out = tmp_path_factory.mktemp("rl-cli")
    cmd = [
        sys.executable,
        "-m",
        "scratchlab",
        "--quiet",
        "rl",
        "train",
        "--env",
        "CartPole-v1",
        "--method",
        "cpg",
        "--seed",
        "1",
        "--steps",
        "400",
        "--eval-episodes",
        "3",
        "--out",
        str(out),
    ]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "SCRATCHLAB_QUIET": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "rl_CartPole-v1_cpg_s1" in proc.stdout
    return out


def test_train_writes_results_and_checkpoint(trained):
    data = json.loads((trained / "rl_CartPole-v1_cpg_s1.json").read_text())
    assert data["config"]["method"] == "cpg" and data["config"]["seed"] == 1
    assert data["results"]["steps"] >= 400
    assert (trained / "rl_CartPole-v1_cpg_s1.pt").is_file()


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_play_records_a_gif(trained, tmp_path, capsys):
    import imageio.v3 as iio

    gif = tmp_path / "x.gif"
    code, out, _ = run_cli(
        [
            "rl",
            "play",
            str(trained / "rl_CartPole-v1_cpg_s1.pt"),
            "--episodes",
            "1",
            "--every",
            "10",
            "--record",
            str(gif),
        ],
        capsys,
    )
    assert code == 0 and "episode 0: return" in out
    frames = iio.imread(gif)
    assert frames.ndim == 4 and frames.shape[0] > 1 and frames.shape[-1] == 3


def test_eval_prints_the_training_runs_evaluation(trained, capsys):
    code, out, _ = run_cli(
        ["rl", "eval", str(trained / "rl_CartPole-v1_cpg_s1.pt"), "--episodes", "3"], capsys
    )
    data = json.loads((trained / "rl_CartPole-v1_cpg_s1.json").read_text())
    assert code == 0 and f"mean {data['results']['eval_return']:.1f}" in out


@pytest.mark.skipif(
    any(importlib.util.find_spec(m) for m in ("imageio_ffmpeg", "av")),
    reason="an mp4 writer is installed",
)
def test_mp4_without_ffmpeg_suggests_gif(trained, tmp_path, capsys):
    code, _, err = run_cli(
        [
            "rl",
            "play",
            str(trained / "rl_CartPole-v1_cpg_s1.pt"),
            "--record",
            str(tmp_path / "x.mp4"),
        ],
        capsys,
    )
    assert code == 2 and ".gif" in err and len(err.strip().splitlines()) == 1


def test_user_errors_are_one_line(tmp_path, capsys):
    code, _, err = run_cli(["rl", "play", str(tmp_path / "missing.pt")], capsys)
    assert code == 2 and err.startswith("scratchlab: error: no checkpoint")
    code, _, err = run_cli(["rl", "train", "--env", "NoSuchEnv-v0", "--out", str(tmp_path)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
