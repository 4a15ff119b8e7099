"""`scratchlab results ls | show | compare` and `plot`: piped into a reader that stops early, no
torch for listing, each column once, counts in the singular where they are one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scratchlab.cli import main


def record(run_name: str, seed: int = 42, epochs: int = 2, **summary) -> dict:
    """The JSON content of a valid results file of a tiny digits run (nothing trained)."""
    from scratchlab.experiments import ExperimentConfig, RunRecord
    from scratchlab.experiments.records import Results

    config = ExperimentConfig.create(run_name=run_name, seed=seed, dataset="digits",
                                     test_split="valid", model_type="mlp", epochs=epochs,
                                     out_dir="results")
    results = Results(num_epochs=2, train_loss=[2.0, 1.5], train_acc=[30.0, 60.0],
                      test_loss=[1.8, 1.4], test_acc=[50.0, 70.0])
    numbers = {"best_test_acc": 70.0, "final_test_acc": 70.0, "final_train_acc": 60.0,
               "epochs": 2, "epochs_to_best": 2, "params": 100, "flops": 100}
    return RunRecord(config=config, results=results, summary={**numbers, **summary}).to_dict()


@pytest.fixture(scope="module")
def many(tmp_path_factory) -> Path:
    """600 results files: far more output than a pipe holds."""
    folder = tmp_path_factory.mktemp("many")
    data = record("r")
    for i in range(600):
        data["config"]["run_name"] = name = f"run{i // 3}_s{42 + i % 3}"
        data["config"]["seed"] = 42 + i % 3
        (folder / f"{name}.json").write_text(json.dumps(data))
    return folder


def scratchlab(*argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "scratchlab", *map(str, argv)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("action", ["ls", "show"])
def test_output_into_a_reader_that_stops_early_ends_quietly(tmp_path, many, action):
    if action == "show":  # one file whose summary alone is more than a pipe holds
        target = tmp_path / "big.json"
        target.write_text(json.dumps(record("big", notes=["x" * 100] * 2000)))
    else:
        target = many
    proc = scratchlab("results", action, target)
    assert proc.stdout.readline()  # `| head -1`
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert err == "", err


def test_whole_output_into_a_reader_exits_0(many):
    proc = scratchlab("results", "ls", many)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and err == b""
    assert len(out.decode().splitlines()) == 601


@pytest.mark.parametrize("action", ["ls", "compare"])
def test_listing_and_comparing_import_no_torch(many, action):
    code = (
        "import sys\n"
        "from scratchlab.cli import main\n"
        "try:\n"
        f"    main(['results', {action!r}, {str(many)!r}])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision'))\n"
        "print(loaded[:5], file=sys.stderr)\n"
        "sys.exit(1 if loaded else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_ls_and_compare_show_epochs_once_when_runs_differ_in_epochs(tmp_path, capsys):
    for name, epochs in (("short", 2), ("long", 3)):
        (tmp_path / f"{name}.json").write_text(json.dumps(record(name, epochs=epochs)))
    for action in ("ls", "compare"):
        with pytest.raises(SystemExit) as done:
            main(["results", action, str(tmp_path)])
        assert done.value.code == 0
        header = capsys.readouterr().out.splitlines()[0].split()
        assert header.count("epochs") == 1, header
        if action == "ls":  # the epoch budget each run was given, beside the epochs it ran
            assert "config_epochs" in header, header


def test_plot_of_one_run_says_run(tmp_path, capsys):
    (tmp_path / "only.json").write_text(json.dumps(record("only")))
    with pytest.raises(SystemExit) as done:
        main(["plot", str(tmp_path), "only", "-o", str(tmp_path / "only.png")])
    assert done.value.code == 0
    assert f"plot of 1 run: {tmp_path / 'only.png'}" in capsys.readouterr().out


def test_run_of_one_epoch_says_epoch(tmp_path, capsys):
    run = ["run-exp", "--dataset", "digits", "--test-split", "valid", "-M", "mlp", "-H", "8",
           "--batches", "1", "--epochs", "1", "--device", "cpu", "-o", str(tmp_path)]
    with pytest.raises(SystemExit) as done:
        main(run)
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "after 1 epoch;" in out and "1 epochs" not in out
