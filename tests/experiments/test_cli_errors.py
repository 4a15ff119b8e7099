"""Malformed input through the command line: exit 2, one line on stderr, no traceback, nothing
written."""

import subprocess
import sys

import pytest
import yaml

from scratchlab.cli import main

RUN = [
    "run-exp",
    "--dataset",
    "digits",
    "--test-split",
    "valid",
    "--epochs",
    "1",
    "--batches",
    "1",
    "-M",
    "mlp",
]

RUN_EXP_CASES = [
    ["--epochs", "0"],
    ["--epochs", "-3"],
    ["--epochs", "ten"],
    ["--epochs", "1.5"],
    ["--bs-train", "0"],
    ["--bs-train", "-1"],
    ["--bs-test", "0"],
    ["--batches", "0"],
    ["--batches", "x"],
    ["-K", "0"],
    ["-K", "-32"],
    ["-K", "a"],
    ["-K"],
    ["-L", "0"],
    ["-L", "-1"],
    ["-L", "two"],
    ["-P", "0"],
    ["-P", "-2"],
    ["-H", "0"],
    ["-H", "-5"],
    ["-H", "big"],
    ["--lr", "0"],
    ["--lr", "-0.1"],
    ["--lr", "fast"],
    ["--reg", "-1"],
    ["--momentum", "1"],
    ["--momentum", "-0.5"],
    ["--dropout", "1"],
    ["--dropout", "-0.1"],
    ["--label-smoothing", "1.5"],
    ["--optimizer", "lbfgs"],
    ["--optimizer-impl", "jax"],
    ["--optimizer", "adamw", "--optimizer-impl", "scratch"],
    ["--precision", "fp8"],
    ["--pooling", "median"],
    ["--device", "tpu"],
    ["--device", "cuda:x"],
    ["--seed", "-1"],
    ["--seed", "abc"],
    ["--train-limit", "0"],
    ["--test-limit", "-4"],
    ["--early-stopping", "0"],
    ["--early-stopping", "soon"],
    ["-n", "bad name"],
    ["-n", "a/b"],
    ["-n", ""],
    ["--conv-params", "[1, 2]"],
    ["--conv-params", "kernel"],
    ["--pooling-params", "3"],
    ["--activation-params", "{a: [}"],
    ["--model-options", "none"],
    ["--dataset-options", "1"],
    ["--augment", "rotate"],
    ["--dataset", "imagenet"],
    ["--dataset", "cifar10", "--data-root", "{missing}"],
    ["--test-split", "holdout"],
    ["--train-split", "everything"],
    ["--dataset-options", "{colour: red}"],
    ["-M", "transformer"],
    ["-M", "cnn", "-K", "4", "-L", "6", "-P", "1"],
    ["--activation", "swish"],
    ["--model-options", "{depth: 3}"],
    ["--no-such-flag"],
    ["--epochs"],
    ["--normalize", "yes"],
    ["--data-root", "{missing}", "--dataset", "cifar10", "--train-limit", "5"],
    ["-M", "mlp", "-K", "32"],
    ["-M", "mlp", "--conv-params", "{kernel_size: 3}"],
    ["--optimizer", "sgd", "--momentum", "0.5"],
    ["--translate", "3"],
    ["--lr", "inf"],
    ["--lr", "1e400"],
    ["--lr", "nan"],
    ["-M", "simplecnn", "--model-options", "{width: 3}"],
]

SWEEP_CASES = [
    "name: [unclosed",
    "just a string",
    "- a\n- list",
    "42",
    "",
    {"grid": {"lr": [0.1]}},
    {"name": "x", "bogus": 1},
    {"name": "x", "grid": {"lr": 0.1}},
    {"name": "x", "grid": {"lr": []}},
    {"name": "x", "grid": {"learning_rate": [0.1]}},
    {"name": "x", "grid": {"seed": [1, 2]}},
    {"name": "x", "grid": {"run_name": ["a"]}},
    {"name": "x", "base": {"epochs": 0}},
    {"name": "x", "base": {"epochz": 3}},
    {"name": "x", "base": {"optimizer": "nadam"}},
    {"name": "x", "base": "epochs: 3"},
    {"name": "x", "seeds": 0},
    {"name": "x", "seeds": "two"},
    {"name": "bad name"},
    {"name": "x", "grid": {"lr": [-1, 0.1]}},
    {"name": "x", "grid": {"filters_per_layer": [[0]]}},
    {"name": "x", "grid": {"lr": [0.1, 0.1]}},
    {"name": "x", "out_dir": [1, 2]},
    {"name": "x", "grid": {"device": ["gpu"]}},
    {"name": "x", "grid": {"dropout": [0.5, 2.0]}},
]

OTHER_CASES = [
    ["results", "ls", "{missing}"],
    ["results", "compare", "{missing}"],
    ["results", "show", "{missing}/r.json"],
    ["results", "show", "{garbage}"],
    ["results", "compare", "{empty}", "nomatch*"],
    ["results"],
    ["results", "frobnicate", "x"],
    ["plot", "{empty}", "nothing*"],
    ["plot", "{missing}", "*"],
    ["report", "{missing}"],
    ["sweep", "{missing}/sweep.yaml"],
    ["sweep"],
    ["frobnicate"],
    [],
    ["run-exp", "--help-me"],
    ["sweep", "{empty}", "--jobs", "0"],
    ["sweep", "{empty}", "--executor", "slurm"],
]


@pytest.fixture
def places(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    return {"missing": str(tmp_path / "missing"), "empty": str(empty), "garbage": str(garbage)}


def fill(argv, places):
    return [
        a.format(**places) if "{" in a and "}" in a and a.strip("{}") in places else a for a in argv
    ]


def check_one_line_exit_2(argv, capsys, out_dir):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, (argv, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, (argv, err)
    assert "Traceback" not in err
    assert not out_dir.exists() or not any(out_dir.rglob("*")), (argv, list(out_dir.rglob("*")))


@pytest.mark.parametrize("extra", RUN_EXP_CASES, ids=lambda a: " ".join(a) or "empty")
def test_run_exp_rejects(extra, places, tmp_path, capsys):
    out = tmp_path / "results"
    check_one_line_exit_2([*RUN, "-o", str(out), *fill(extra, places)], capsys, out)


@pytest.mark.parametrize("content", SWEEP_CASES, ids=lambda c: str(c)[:40])
def test_sweep_rejects(content, tmp_path, capsys):
    out = tmp_path / "results"
    if isinstance(content, dict):
        content = {"out_dir": str(out), **content}
        content.setdefault("base", {"dataset": "digits"}) if isinstance(
            content.get("base", {}), dict
        ) else None
        text = yaml.safe_dump(content)
    else:
        text = content
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    check_one_line_exit_2(["sweep", str(path), "--out-dir", str(out)], capsys, out)


@pytest.mark.parametrize("argv", OTHER_CASES, ids=lambda a: " ".join(a) or "no command")
def test_other_commands_reject(argv, places, tmp_path, capsys):
    check_one_line_exit_2(fill(argv, places), capsys, tmp_path / "results")


def test_there_are_over_a_hundred_cases():
    assert len(RUN_EXP_CASES) + len(SWEEP_CASES) + len(OTHER_CASES) >= 100


@pytest.mark.parametrize(
    "argv",
    [
        ["run-exp", "--epochs", "0"],
        ["sweep", "/nonexistent.yaml"],
        ["run-exp", "--dataset", "nope"],
    ],
)
def test_real_process_prints_one_line_and_exits_2(argv):
    proc = subprocess.run(
        [sys.executable, "-m", "scratchlab", *argv], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
