"""Sweeps with batched="auto"/"on" write what batched="off" (one run_experiment per run) writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from scratchlab.cli import main
from scratchlab.experiments import ExperimentConfig, load_model, run_configs
from scratchlab.experiments import batched as batched_sweeps
from scratchlab.experiments.batched import plan, split_for_workers
from scratchlab.training import load_checkpoint


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread is faster and keeps CPU sums identical between the paths."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


BASE = {
    "dataset": "edges",
    "test_split": "valid",
    "bs_train": 8,
    "bs_test": 10,
    "batches": None,
    "epochs": 3,
    "early_stopping": None,
    "device": "cpu",
    "optimizer": "momentum",
    "lr": 0.05,
    "momentum": 0.9,
    "reg": 0.0,
    "model_type": "simplecnn",
    "model_options": {"kernel_size": 3, "num_filters": 2},
}


def config(out: Path, name: str, seed: int, **fields) -> ExperimentConfig:
    data = {"dataset_options": {"data_per_class": 8, "seed": 1000 + seed}}
    if fields.get("optimizer") in ("sgd", "rmsprop"):
        data["momentum"] = None  # not read: left out
    if fields.get("model_type", "simplecnn") != "simplecnn":
        data["model_options"] = None
    given = {**BASE, **data, **fields, "run_name": name, "seed": seed, "out_dir": str(out)}
    return ExperimentConfig.create(**{k: v for k, v in given.items() if v is not None})


def sweep(out: Path) -> list[ExperimentConfig]:
    """Two CNN runs (lr, seed), an early-stopped one, and three MLP runs with Adam."""
    return [
        config(out, "cnn_a", 0),
        config(out, "cnn_b", 1, lr=0.02, reg=1e-3),
        config(out, "cnn_es", 2, early_stopping=1, early_stopping_min_delta=100.0),
        *[
            config(
                out,
                f"mlp_{s}",
                s,
                model_type="three_layer_mlp",
                model_options={"hidden": [10, 6]},
                optimizer="adam",
                lr=3e-3 * (s + 1),
            )
            for s in range(3)
        ],
    ]


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def test_batched_sweep_writes_what_the_single_runs_write(tmp_path):
    alone, together = sweep(tmp_path / "off"), sweep(tmp_path / "auto")
    assert [o.status for o in run_configs(alone, batched="off")] == ["ok"] * 6
    assert [o.status for o in run_configs(together, batched="auto")] == ["ok"] * 6
    for c in alone:
        a = read(tmp_path / "off" / f"{c.run_name}.json")
        b = read(tmp_path / "auto" / f"{c.run_name}.json")
        assert a.keys() == b.keys()
        assert {**a["config"], "out_dir": ""} == {**b["config"], "out_dir": ""}
        assert a["timings"].keys() == b["timings"].keys()
        assert a["results"]["num_epochs"] == b["results"]["num_epochs"]
        for key in ("train_loss", "test_loss", "train_acc", "test_acc"):
            np.testing.assert_allclose(
                b["results"][key], a["results"][key], rtol=1e-4, atol=1e-7, err_msg=key
            )
        assert set(b["summary"]) - set(a["summary"]) == {"batched", "batched_group_size"}
        assert b["summary"]["batched"] is True and b["summary"]["params"] == a["summary"]["params"]
        assert b["summary"]["best_test_acc"] == pytest.approx(
            a["summary"]["best_test_acc"], rel=1e-4
        )
    assert read(tmp_path / "auto" / "cnn_es.json")["results"]["num_epochs"] == 2
    again = run_configs(sweep(tmp_path / "auto"), batched="auto")
    assert [r.cached for r in again] == [True] * 6


def test_cpu_sweep_trains_its_batched_groups_in_worker_processes(tmp_path, monkeypatch):
    def in_this_process(*args, **kwargs):
        raise AssertionError(
            "with jobs > 1 on the CPU the batched groups train in worker processes"
        )

    # spawned workers import their own
    monkeypatch.setattr(batched_sweeps, "run_batched", in_this_process)
    alone, spread = sweep(tmp_path / "off"), sweep(tmp_path / "jobs")
    assert [o.status for o in run_configs(alone, batched="off")] == ["ok"] * 6
    assert [o.status for o in run_configs(spread, batched="on", jobs=2)] == ["ok"] * 6
    for c in alone:
        a = read(tmp_path / "off" / f"{c.run_name}.json")
        b = read(tmp_path / "jobs" / f"{c.run_name}.json")
        assert b["summary"]["batched"] is True
        assert a["results"]["num_epochs"] == b["results"]["num_epochs"]
        for key in ("train_loss", "test_loss", "train_acc", "test_acc"):
            np.testing.assert_allclose(
                b["results"][key], a["results"][key], rtol=1e-4, atol=1e-7, err_msg=key
            )
    again = run_configs(sweep(tmp_path / "jobs"), batched="on", jobs=2)
    assert [r.cached for r in again] == [True] * 6


def test_auto_trains_cpu_runs_alone_when_worker_processes_run_them(tmp_path):
    runs = sweep(tmp_path)[:2]
    assert [o.status for o in run_configs(runs, batched="auto", jobs=2)] == ["ok"] * 2
    assert not any("batched" in read(tmp_path / f"{c.run_name}.json")["summary"] for c in runs)
    one = sweep(tmp_path / "one")[:2]
    run_configs(one, batched="auto", jobs=1)
    assert all(read(tmp_path / "one" / f"{c.run_name}.json")["summary"]["batched"] for c in one)


def test_worker_parts_cover_every_run_once_and_keep_auto_groups_batchable(tmp_path):
    out = tmp_path / "parts"
    big = [config(out, f"cnn{s}", s, epochs=2 + s) for s in range(9)]
    mlps = [
        config(out, f"mlp{s}", s, model_type="three_layer_mlp", model_options={"hidden": [10, 6]})
        for s in range(2)
    ]
    lone = config(out, "lone", 0, model_options={"kernel_size": 5, "num_filters": 2})
    dropout = config(out, "dropout", 0, model_type="mlp", hidden_dims=[4], dropout=0.5)
    configs = [*big, *mlps, lone, dropout]
    parts, singles = split_for_workers(configs, "auto", jobs=2)
    assert sorted(c.run_name for p in parts for c in p) == sorted(c.run_name for c in [*big, *mlps])
    assert sorted(c.run_name for c in singles) == ["dropout", "lone"]
    assert all(len(p) >= 2 for p in parts) and len(parts) > 2  # the 9 CNN runs are cut into chunks
    work = [sum(c.budget.epochs for c in p) for p in parts]
    assert work == sorted(work, reverse=True)
    on_parts, on_singles = split_for_workers(configs, "on", jobs=2)
    assert [c.run_name for c in on_singles] == ["dropout"] and sum(map(len, on_parts)) == 12


def test_checkpoints_load_and_resume_like_the_single_path(tmp_path):
    runs = sweep(tmp_path / "auto")[3:]
    run_configs(runs, batched="auto")
    single = sweep(tmp_path / "off")[3]
    run_configs([single], batched="off")
    x = torch.rand(5, 1, 28, 28)
    ours = load_model(tmp_path / "auto" / "mlp_0.json")
    theirs = load_model(tmp_path / "off" / "mlp_0.json")
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-3, atol=1e-4)
    best = load_checkpoint(tmp_path / "auto" / "checkpoints" / "mlp_0_best.pt")
    epochs_to_best = read(tmp_path / "auto" / "mlp_0.json")["summary"]["epochs_to_best"]
    assert best["trainer"]["history"]["num_epochs"] == epochs_to_best
    # A longer run resumes alone from the batched checkpoint and ends where a straight run ends.
    longer = [r.replace(epochs=5) for r in (runs[0], single)]
    run_configs(longer, batched="off")
    resumed, straight = (
        read(tmp_path / "auto" / "mlp_0.json"),
        read(tmp_path / "off" / "mlp_0.json"),
    )
    assert resumed["results"]["num_epochs"] == 5 and "batched" not in resumed["summary"]
    np.testing.assert_allclose(
        resumed["results"]["test_loss"], straight["results"]["test_loss"], rtol=1e-4
    )


def test_auto_batches_groups_of_small_models_only(tmp_path):
    out = tmp_path / "plan"
    configs = [
        config(out, "a", 0),
        config(out, "b", 1),  # a group
        # alone: other architecture
        config(out, "c", 0, model_options={"kernel_size": 5, "num_filters": 2}),
        # alone: other data size
        config(out, "d", 0, dataset_options={"data_per_class": 6, "seed": 1}),
        # ... with d
        config(out, "e", 1, dataset_options={"data_per_class": 6, "seed": 2}, epochs=2),
        config(out, "f", 0, model_type="mlp", hidden_dims=[4], dropout=0.5),  # alone: dropout
        config(out, "g", 0, optimizer_impl="scratch"),  # alone: scratch optimizer
    ]
    groups, singles = plan(configs, "auto")
    assert sorted(sorted(p.config.run_name for p in g) for g in groups) == [["a", "b"], ["d", "e"]]
    assert [c.run_name for c in singles] == ["c", "f", "g"]
    groups, singles = plan(configs, "on")
    assert sorted(len(g) for g in groups) == [1, 2, 2] and [c.run_name for c in singles] == [
        "f",
        "g",
    ]


def test_a_diverging_run_fails_alone(tmp_path):
    runs = [
        config(tmp_path, "ok", 0, optimizer="sgd"),
        config(tmp_path, "bad", 1, lr=1e30, optimizer="sgd"),
        config(tmp_path, "ok2", 2, optimizer="sgd"),
    ]
    outcomes = {o.config.run_name: o for o in run_configs(runs, batched="on")}
    assert outcomes["bad"].status == "failed" and "loss became" in outcomes["bad"].error
    assert outcomes["ok"].status == outcomes["ok2"].status == "ok"
    assert read(tmp_path / "bad.json")["status"] == "failed"


def test_sweep_command_takes_the_batched_flag(tmp_path, capsys):
    spec = {
        "name": "bs",
        "out_dir": str(tmp_path / "out"),
        "seeds": 2,
        "base": {**BASE, "epochs": 1},
        "grid": {"lr": [0.01, 0.02]},
    }
    path = tmp_path / "bs.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(SystemExit) as exit_info:
        main(["sweep", str(path), "--batched", "on"])
    assert exit_info.value.code in (0, None)
    results = [
        read(p) for p in (tmp_path / "out").glob("bs_*.json") if not p.name.endswith(".sweep.json")
    ]
    assert len(results) == 4 and all(r["summary"]["batched_group_size"] == 4 for r in results)
    assert "4 finished, 0 failed" in capsys.readouterr().out


def test_each_group_is_built_after_the_one_before_is_collected_and_a_failing_group_runs_alone(
        tmp_path, monkeypatch):
    """On a CPU groups train one after another: a group's records are written before the next
    group is built (on CUDA, while others train); a group whose training fails is left to the
    runs alone, and the others keep their batched records."""
    events = []
    prepare = batched_sweeps.prepare

    def logged_prepare(config, pool):
        events.append(("build", config.run_name))
        return prepare(config, pool)

    fit_of = batched_sweeps.fit_of

    def failing_mlp_fit(group):
        fit = fit_of(group)
        if "mlp" in group[0].config.run_name:
            fit.step = lambda: (_ for _ in ()).throw(RuntimeError("out of memory"))
        return fit

    monkeypatch.setattr(batched_sweeps, "prepare", logged_prepare)
    monkeypatch.setattr(batched_sweeps, "fit_of", failing_mlp_fit)
    configs = sweep(tmp_path)
    with pytest.warns(UserWarning, match="out of memory.*3 runs one by one"):
        rest = batched_sweeps.run_batched(configs, "on",
                                          lambda r: events.append(("record", r.config.run_name)))
    assert [c.run_name for c in rest] == ["mlp_0", "mlp_1", "mlp_2"]
    kinds = [f"{kind} {name.split('_')[0]}" for kind, name in events]
    assert kinds == ["build cnn"] * 3 + ["record cnn"] * 3 + ["build mlp"] * 3
