"""Grid logic with a stand-in trainer: resume, failures recorded, heatmap values, best and final
run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import scratchlab.detect.grid as grid_module
from scratchlab.detect.grid import GridConfig, combination_name, heatmap_matrix, run_grid
from scratchlab.detect.results import RESULTS_FILE, DetectMetrics, TrainResult, write_results
from scratchlab.detect.yolo import TrainConfig
from scratchlab.errors import ConfigError


def score(optimizer: str, lr: float, momentum: float) -> float:
    """A made-up metric with a unique best: Adam, lr 0.01, momentum 0.9."""
    return (2.0 if optimizer == "Adam" else 1.0) * lr * 10 + momentum / 10


class FakeTrain:
    """Records each call; writes a results JSON like `train`; fails for the combinations in
    `fail`."""

    def __init__(self, fail=()):
        self.calls: list[tuple] = []
        self.fail = set(fail)

    def __call__(self, config: TrainConfig) -> TrainResult:
        key = (config.optimizer, config.lr, config.momentum)
        self.calls.append((*key, config.epochs, config.name))
        run_dir = Path(config.out) / config.name
        (run_dir / "weights").mkdir(parents=True, exist_ok=True)
        if key in self.fail:
            raise RuntimeError(f"diverged at {key}")
        value = score(*key)
        metrics = DetectMetrics(value, value / 2, 0.5, 0.5, {"a": value / 2}, {"a": value})
        write_results(run_dir / RESULTS_FILE, config, metrics)
        return TrainResult(
            metrics,
            run_dir,
            run_dir / "weights/best.pt",
            run_dir / RESULTS_FILE,
            config.epochs,
            10,
            1.0,
        )


@pytest.fixture
def setup(tmp_path, monkeypatch):
    data = tmp_path / "data.yaml"
    data.write_text("train: images/train\nval: images/val\nnames: {0: a}\n")
    for split in ("train", "val"):
        (tmp_path / "images" / split).mkdir(parents=True)
    grid = GridConfig(
        optimizers=["SGD", "Adam"],
        lrs=[0.01, 0.001],
        momentums=[0.5, 0.9],
        epochs=2,
        final_epochs=7,
        metric="map50",
        out=str(tmp_path / "grid"),
    )
    base = TrainConfig(data=str(data), model="yolov8n.yaml", device="cpu")

    def use(fake):
        monkeypatch.setattr(grid_module, "train", fake)
        return fake

    return grid, base, use


def test_grid_runs_every_combination_records_failures_and_retrains_the_best(setup):
    grid, base, use = setup
    failing = ("SGD", 0.001, 0.9)
    fake = use(FakeTrain(fail=[failing]))
    result = run_grid(grid, base, log=lambda *_: None)
    combos = [(o, lr, m) for o in grid.optimizers for lr in grid.lrs for m in grid.momentums]
    assert [c[:3] for c in fake.calls[:8]] == combos and all(c[3] == 2 for c in fake.calls[:8])
    statuses = {(e.optimizer, e.lr, e.momentum): e.status for e in result.entries}
    assert statuses == {c: "failed" if c == failing else "done" for c in combos}
    failed = next(e for e in result.entries if e.status == "failed")
    assert "diverged" in failed.error
    error_file = Path(grid.out) / "runs" / combination_name(*failing) / "error.json"
    assert "diverged" in json.loads(error_file.read_text())["error"]
    best = max((c for c in combos if c != failing), key=lambda c: score(*c))
    assert (result.best.optimizer, result.best.lr, result.best.momentum) == best
    assert fake.calls[8][:4] == (*best, 7) and len(fake.calls) == 9  # final retrain, full budget
    assert result.final.metrics.map50 == pytest.approx(score(*best))
    summary = json.loads(result.summary.read_text())
    assert len(summary["entries"]) == 8 and summary["best"]["name"] == combination_name(*best)
    assert sorted(p.name for p in result.heatmaps) == sorted(
        f"{o}_{m}.png" for o in grid.optimizers for m in ("map50", "map50_95")
    )
    assert all(p.stat().st_size > 0 for p in result.heatmaps)


def test_heatmap_matrix_rows_are_lrs_columns_are_momentums(setup):
    grid, base, use = setup
    failing = ("SGD", 0.001, 0.9)
    use(FakeTrain(fail=[failing]))
    result = run_grid(grid, base, log=lambda *_: None)
    matrix = heatmap_matrix(result.entries, "SGD", "map50", grid.lrs, grid.momentums)
    for i, lr in enumerate(grid.lrs):
        for j, m in enumerate(grid.momentums):
            if ("SGD", lr, m) == failing:
                assert math.isnan(matrix[i][j])
            else:
                assert matrix[i][j] == pytest.approx(score("SGD", lr, m))


def test_rerun_skips_finished_and_retries_failed_and_interrupted(setup):
    grid, base, use = setup
    failing = ("Adam", 0.01, 0.9)  # would be the best combination
    use(FakeTrain(fail=[failing]))
    first = run_grid(grid, base, log=lambda *_: None)
    assert (first.best.optimizer, first.best.lr, first.best.momentum) != failing
    interrupted = ("SGD", 0.01, 0.5)
    (Path(grid.out) / "runs" / combination_name(*interrupted) / RESULTS_FILE).unlink()
    fake = use(FakeTrain())
    second = run_grid(grid, base, log=lambda *_: None)
    trained = [c[:3] for c in fake.calls]
    # the two missing, then the new best's final run
    assert trained == [interrupted, failing, failing]
    assert (second.best.optimizer, second.best.lr, second.best.momentum) == failing
    assert {e.status for e in second.entries} == {"skipped", "done"}
    assert not (Path(grid.out) / "runs" / combination_name(*failing) / "error.json").exists()
    third_fake = use(FakeTrain())
    run_grid(grid, base, log=lambda *_: None)
    assert third_fake.calls == []  # everything done, final run included


def test_bad_grid_is_a_config_error(setup):
    grid, base, _ = setup
    grid.optimizers = ["RMSProp"]
    with pytest.raises(ConfigError, match="optimizers"):
        run_grid(grid, base)


@pytest.mark.parametrize("field, values, named", [
    ("lrs", [0.01, -1.0], "lr=-1.0"), ("lrs", [math.nan], "lr=nan"), ("lrs", [0.0], "lr=0.0"),
    ("momentums", [0.9, 1.0], "momentum=1.0"), ("momentums", [-0.1], "momentum=-0.1")])
def test_a_bad_value_anywhere_in_the_grid_stops_it_before_any_run(setup, field, values, named):
    grid, base, use = setup
    train = use(FakeTrain())
    setattr(grid, field, values)
    with pytest.raises(ConfigError, match="need lr > 0 and 0 <= momentum < 1") as info:
        run_grid(grid, base)
    assert named in str(info.value)
    assert train.calls == [] and not (Path(grid.out) / "runs").exists()


@pytest.mark.parametrize("value", ["[1,2", "[" * 100_000])
def test_an_unreadable_set_value_is_one_line(capsys, value):
    from scratchlab.cli import main

    with pytest.raises(SystemExit) as info:
        main(["detect", "grid", "data.yaml", "--set", f"lr0={value}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(err) == 1 and "--set lr0" in err[0]
