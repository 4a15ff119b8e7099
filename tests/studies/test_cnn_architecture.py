"""The CNN architecture study: its runs, a quick end-to-end run, the search and computed
findings."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from torch import nn

from scratchlab.cli import main
from scratchlab.errors import ConfigError, ScratchlabError
from scratchlab.experiments import build_run_model, load_record
from scratchlab.models import build_model
from scratchlab.studies import cnn_architecture as study
from scratchlab.studies import get_study
from scratchlab.studies.cnn_architecture.analysis import COLUMNS, FAIL_ACC, findings
from scratchlab.studies.cnn_architecture.spec import (
    DEFAULT_SPEC,
    data_overrides,
    load_spec,
    study_configs,
    study_runs,
)

REPO = Path(__file__).resolve().parents[2]
SPEC_FILE = REPO / "configs" / "studies" / "cnn_architecture.yaml"
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_fake_cifar(path: Path, n_train: int = 200, n_test: int = 100) -> Path:
    """A CIFAR-10-shaped `cifar10-jpeg.npz` of random images whose colour depends on the class."""
    from torchvision.io import encode_jpeg

    generator = torch.Generator().manual_seed(0)
    arrays = {"classes": np.array(CLASSES)}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = torch.arange(n) % 10
        images = torch.randint(0, 120, (n, 3, 32, 32), generator=generator, dtype=torch.uint8)
        images[:, 0] += (labels * 12).to(torch.uint8)[:, None, None]
        encoded = [encode_jpeg(img).numpy() for img in images]
        arrays[f"{split}_jpeg"] = np.concatenate(encoded)
        offsets = np.concatenate([[0], np.cumsum([len(e) for e in encoded])])
        arrays[f"{split}_offsets"] = offsets.astype(np.int64)
        arrays[f"{split}_labels"] = labels.numpy().astype(np.uint8)
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module")
def fake_cifar(tmp_path_factory) -> Path:
    return write_fake_cifar(tmp_path_factory.mktemp("data") / "cifar10-jpeg.npz")


@pytest.fixture(scope="module")
def quick_result(fake_cifar, tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    result = study.run(
        quick=True,
        device="cpu",
        out_dir=out,
        data_root=fake_cifar,
        train_limit=20,
        test_limit=20,
        verbose=False,
    )
    return result, out


# ---- what the study trains --------------------------------------------------------------------
def test_yaml_file_equals_the_built_in_spec():
    assert load_spec(SPEC_FILE) == load_spec()


def test_bad_spec_is_a_config_error(tmp_path):
    bad = copy.deepcopy(DEFAULT_SPEC)
    bad["experiments"]["exp1_1"][0]["P"] = "sometimes"
    with pytest.raises(ConfigError, match="P"):
        load_spec(bad)
    path = tmp_path / "bad.yaml"
    path.write_text("base: [unclosed")
    with pytest.raises(ConfigError, match="YAML"):
        load_spec(path)
    with pytest.raises(ConfigError, match="unknown experiment"):
        study_runs(load_spec(), experiments=["exp9"])


def test_runs_follow_the_classic_experiments():
    runs = study_runs(load_spec())
    by_exp = {
        e: [r for r in runs if r.experiment == e]
        for e in ("exp1_1", "exp1_2", "exp1_3", "exp1_4", "exp2")
    }
    assert [len(by_exp[e]) for e in ("exp1_1", "exp1_2", "exp1_3", "exp1_4")] == [8, 9, 4, 6]
    assert {r.L for r in by_exp["exp2"]} >= {3, 6, 9, 12}
    names = [r.name for r in runs]
    assert len(set(names)) == len(names)
    assert {
        "exp1_1_L2_K32",
        "exp1_3_L1_K64-128-256",
        "exp2_L3_K32-64-128",
        "exp1_4_L32_K32",
    } <= set(names)
    assert {r.model_type for r in by_exp["exp1_4"]} == {"resnet"}
    quick = study_runs(load_spec(), quick=True)
    assert [r.experiment for r in quick] == [e for e in by_exp for _ in range(2)]


def test_no_feature_map_collapses(tmp_path):
    """Every architecture of the study keeps maps of at least 2x2 before its head (deepest of
    each group)."""
    deepest = {}
    for config in study_configs(load_spec(), tmp_path):
        m = config.model
        key = (config.run_name.split("_L")[0], m.model_type, len(m.filters_per_layer))
        if key not in deepest or m.layers_per_block > deepest[key].model.layers_per_block:
            deepest[key] = config
    assert len(deepest) == 6
    for config in deepest.values():
        with torch.device("meta"):  # shapes only, no arithmetic
            assert min(map_sides(build_run_model(config, (3, 32, 32), 10))) >= 2, config.run_name


def map_sides(model: nn.Module) -> list[int]:
    """The map side after every convolution and pool of a model's feature extractor."""
    sides = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: sides.append(out.shape[-1]))
        for m in model.feature_extractor.modules()
        if isinstance(m, nn.Conv2d | nn.MaxPool2d)
    ]
    with torch.no_grad():
        model(torch.zeros(1, 3, 32, 32))
    for hook in hooks:
        hook.remove()
    return sides


def test_configs_use_gpu_speed_settings_only_on_cuda(tmp_path):
    spec = load_spec()
    cpu = study_configs(spec, tmp_path, "cpu")[0]
    cuda = study_configs(spec, tmp_path, "cuda", overrides=data_overrides(spec, False, "cuda"))[0]
    assert (cpu.speed.precision, cpu.speed.channels_last) == ("fp32", False)
    assert (cuda.speed.precision, cuda.speed.channels_last) == ("bf16", True)
    assert cuda.data.dataset_options == {"device": "cuda"}
    assert cuda.speed.cuda_graph and not cpu.speed.cuda_graph
    hyper = {**spec.hyperparameters, "optimizer": "momentum", "momentum": 0.8}
    sgd = study_configs(spec, tmp_path, "cuda", hyper=hyper)[0]
    # a captured step needs Adam/AdamW; SGD with momentum keeps its momentum
    assert (sgd.optim.optimizer, sgd.optim.momentum) == ("momentum", 0.8)
    assert not sgd.speed.cuda_graph
    plain = study_configs(spec, tmp_path, "cuda", hyper={**hyper, "optimizer": "sgd"})[0]
    assert plain.optim.optimizer == "sgd" and not plain.speed.cuda_graph  # momentum left out
    assert (cpu.data.train_limit, cpu.data.test_limit) == (30000, 5000)
    assert (cpu.budget.epochs, cpu.budget.early_stopping) == (10, 5)
    two = study_configs(spec, tmp_path, seeds=[0, 1], experiments=["exp1_1"])
    assert [c.run_name for c in two][:2] == ["exp1_1_L2_K32_s0", "exp1_1_L2_K32_s1"]


# ---- a quick run end to end -------------------------------------------------------------------
def test_quick_run_writes_table_figures_and_report(quick_result):
    result, out = quick_result
    table = pd.read_csv(out / "table.csv")
    assert list(table.columns) == COLUMNS
    assert len(table) == 10 and (table["status"] == "ok").all()
    assert set(table["experiment"]) == {"exp1_1", "exp1_2", "exp1_3", "exp1_4", "exp2"}
    assert table["best_test_acc"].between(0, 100).all()
    assert (table[["params", "flops", "train_seconds"]] > 0).all().all()
    for name in [
        "curves_exp1_1",
        "curves_exp1_4",
        "curves_exp2",
        "accuracy_vs_depth",
        "accuracy_vs_params",
    ]:
        assert (out / "figures" / f"{name}.png").stat().st_size > 1000
    html = (out / "report.html").read_text()
    for finding in result.findings:
        assert finding.replace("'", "&#x27;") in html
    assert "not searched" in html and "exp1_3_L1_K64-128-256" in html
    stored = json.loads((out / "study.json").read_text())
    assert stored["runs"] == 10 and stored["quick"] is True and stored["seed_list"] == [0]
    assert result.findings[0].startswith("Quick mode is a smoke test, not evidence: 1 epoch on "
                                         "20 training images for the first 2 runs")
    assert findings(table) == result.findings[1:]  # the saved table gives the same findings


def test_params_and_flops_come_from_the_models(quick_result):
    from scratchlab.models import summary

    result, _ = quick_result
    row = result.table[result.table["run_name"] == "exp1_2_L2_K32"].iloc[0]
    model = build_model(
        {
            "model_type": "cnn",
            "in_size": (3, 32, 32),
            "out_classes": 10,
            "channels": [32, 32],
            "pool_every": 2,
            "hidden_dims": [100],
        }
    )
    info = summary(model, (3, 32, 32))
    assert (row["params"], row["flops"]) == (info.params, info.flops)


def test_rerun_skips_finished_runs(quick_result, fake_cifar):
    _, out = quick_result
    before = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")}
    again = study.run(
        quick=True,
        device="cpu",
        out_dir=out,
        data_root=fake_cifar,
        train_limit=20,
        test_limit=20,
        verbose=False,
        experiments=["exp1_1"],
    )
    assert len(again.table) == 2 and (again.table["status"] == "ok").all()
    after = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")}
    assert before == after


def test_report_only_rebuilds_the_report_from_the_runs(quick_result, fake_cifar, tmp_path):
    result, out = quick_result
    shutil.copytree(out, tmp_path / "copy")
    stored = json.loads((tmp_path / "copy" / "study.json").read_text())
    made = result.table  # the runs study.json names: the last study run in the folder
    if stored["experiments"]:
        made = made[made["experiment"].isin(stored["experiments"])].reset_index(drop=True)
    rebuilt = study.run(
        quick=True,
        device="cpu",
        out_dir=tmp_path / "copy",
        data_root=fake_cifar,
        train_limit=20,
        test_limit=20,
        verbose=False,
        report_only=True,
    )
    pd.testing.assert_frame_equal(rebuilt.table, made)
    again = json.loads((tmp_path / "copy" / "study.json").read_text())
    assert again["wall_seconds"] == stored["wall_seconds"] and again["command"] == stored["command"]
    assert stored["command"].startswith("scratchlab study cnn-architecture --quick --device cpu")
    assert "(from Python: train_limit=20, test_limit=20)" in stored["command"]
    html = (tmp_path / "copy" / "report.html").read_text()
    assert f"Trained on {again['device_name']}" in html
    assert again == stored  # study.json is read, not rewritten
    # without --quick: the study.json says how the runs were made (quick, seeds, experiments)
    plain = study.run(device="cpu", out_dir=tmp_path / "copy", verbose=False, report_only=True)
    pd.testing.assert_frame_equal(plain.table, made)
    assert "smoke test" in plain.findings[0]
    with pytest.raises(ScratchlabError, match="no study\\.json"):
        study.run(
            quick=True,
            device="cpu",
            out_dir=tmp_path / "empty",
            data_root=fake_cifar,
            report_only=True,
        )


def test_the_scratchlab_command_runs_the_study(quick_result, fake_cifar, tmp_path, capsys):
    shutil.copytree(quick_result[1], tmp_path / "copy")
    args = [
        "study",
        "cnn-architecture",
        "--quick",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "copy"),
        "--data-root",
        str(fake_cifar),
    ]
    assert exit_code([*args, "--report-only", "--experiments", "exp1_2", "exp2"]) == 0
    printed = capsys.readouterr().out
    assert "- Best YourCNN" in printed and "report: " in printed
    assert "cnn-architecture: reading 4 runs from" in printed  # one line per phase
    assert "cnn-architecture: table, findings, figures and report" in printed
    assert len(pd.read_csv(tmp_path / "copy" / "table.csv")) == 4
    assert exit_code([*args, "--batched", "on"]) == 2
    assert "does not take --batched" in capsys.readouterr().err


def exit_code(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    return exit_.value.code


def test_search_records_and_uses_its_choice(fake_cifar, tmp_path):
    spec = copy.deepcopy(DEFAULT_SPEC)
    spec["search"] = {
        "probes": ["exp1_2_L2_K32"],
        "points": [
            {"optimizer": "adam", "lr": 1e-3, "bs_train": 32},
            {"optimizer": "sgd", "lr": 1e-9, "bs_train": 32},
        ],
    }
    result = study.run(
        quick=True,
        device="cpu",
        out_dir=tmp_path,
        data_root=fake_cifar,
        spec=spec,
        search=True,
        experiments=["exp1_2"],
        train_limit=40,
        test_limit=20,
        verbose=False,
    )
    search = pd.read_csv(tmp_path / "search.csv")
    assert len(search) == 2 and search["mean_best_test_acc"].is_monotonic_decreasing
    chosen = json.loads((tmp_path / "hyperparameters.json").read_text())["hyperparameters"]
    winner = spec["search"]["points"][int(search.iloc[0]["point"])]
    assert {k: chosen[k] for k in winner} == winner
    optim = load_record(tmp_path / "runs" / "exp1_2_L2_K32.json").config.optim
    assert (optim.optimizer, optim.lr) == (winner["optimizer"], winner["lr"])
    assert "chosen by the search" in result.report_html()


def test_registered_as_a_study():
    assert get_study("cnn-architecture") is study.STUDY


# ---- findings follow the table ----------------------------------------------------------------
def synthetic_table(acc: dict[str, float], seeds: int = 2) -> pd.DataFrame:
    """Rows for runs named like `exp1_1_L16_K32` with the given mean accuracies (spread +-0.5)."""
    rows = []
    for name, value in acc.items():
        experiment, L, K = name.rsplit("_", 2)
        model = {"exp1_4": "resnet", "exp2": "yourcnn"}.get(experiment, "cnn")
        for s in range(seeds):
            rows.append(
                {
                    "experiment": experiment,
                    "run_name": f"{name}_s{s}",
                    "model_type": model,
                    "K": K[1:],
                    "L": int(L[1:]),
                    "P": 2,
                    "depth": int(L[1:]) * len(K[1:].split("-")),
                    "seed": s,
                    "status": "ok",
                    "best_test_acc": value + (0.5 if s else -0.5),
                    "epochs_to_best": 10 - s,
                    "epochs": 10,
                    "params": 1000,
                    "flops": 10**6,
                    "train_seconds": 1.0,
                }
            )
    return pd.DataFrame(rows)


BASE = {
    "exp1_1_L2_K32": 60.0,
    "exp1_1_L8_K32": 65.0,
    "exp1_1_L16_K32": 10.0,
    "exp1_2_L4_K32": 62.0,
    "exp1_2_L4_K64": 66.0,
    "exp1_2_L4_K128": 68.0,
    "exp1_4_L16_K32": 70.0,
    "exp1_4_L32_K32": 72.0,
    "exp2_L3_K32-64-128": 80.0,
    "exp2_L6_K32-64-128": 86.0,
}


def joined(acc: dict[str, float]) -> str:
    return "\n".join(findings(synthetic_table(acc)))


def test_findings_name_the_failed_depths_and_the_resnet_fix():
    text = joined(BASE)
    assert "CNN exp1_1 L16 K32 (10.0%)" in text
    assert "exp1_1 K=32 fails from L=16; L=8 still reaches 65.0%" in text
    assert (
        "Residual connections fix this: plain CNNs fail from 16 conv layers, while ResNet "
        "trains in 2 of 2"
    ) in text
    assert "Best CNN: exp1_2 L4 K128 with 68.0 +- 0.7%" in text
    assert "the widest K=128 is best at 1 of 1 depths" in text


def test_findings_follow_changes_in_the_table():
    healthy = joined({**BASE, "exp1_1_L16_K32": 50.0})
    assert "Every configuration trained" in healthy and "No plain CNN failed" in healthy
    broken = joined({**BASE, "exp1_4_L16_K32": 10.0, "exp1_4_L32_K32": 11.0})
    assert "Residual connections do not fix this" in broken
    assert "ResNet exp1_4 L32 K32 (11.0%)" in broken
    partly = joined({**BASE, "exp1_4_L32_K32": 10.0})
    assert "help only partly" in partly and "1 of 2" in partly
    shifted = joined({**BASE, "exp1_1_L8_K32": 90.0})
    assert "Best CNN: exp1_1 L8 K32" in shifted


def test_findings_compare_yourcnn_with_the_best_rivals():
    text = joined(BASE)
    assert "Best YourCNN: exp2 L6 K32-64-128 with 86.0 +- 0.7%" in text
    assert "+18.0 points over the best CNN (exp1_2 L4 K128)" in text
    assert "+14.0 points over the best ResNet (exp1_4 L32 K32)" in text
    assert "YourCNN's best run (86.5%) beats every CNN and ResNet run" in text
    assert "goal 85% reached" in text
    assert "YourCNN trains at every depth tried, up to L=6" in text
    losing = joined({**BASE, "exp1_4_L32_K32": 90.0, "exp2_L6_K32-64-128": 10.0})
    assert (
        "does not beat every CNN and ResNet run (the best of them: exp1_4_L32_K32_s1, 90.5%)"
    ) in losing
    assert "goal 85% not reached" in losing and "YourCNN stops training from L=6" in losing
    assert "-10.0 points over the best ResNet" in losing


def test_findings_report_epochs_and_errors():
    table = synthetic_table(BASE)
    table.loc[0, "status"] = "failed"
    text = "\n".join(findings(table))
    assert f"1 run(s) stopped with an error: {table.loc[0, 'run_name']}" in text
    assert "runs were best at their last epoch" in text
    assert FAIL_ACC < 20
    assert findings(table.assign(status="failed"))[0].startswith("No run finished")


def test_notebook_runs(fake_cifar, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(REPO / "examples" / "cnn_architecture.ipynb", as_version=4)
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = (
        f"data_root = {str(fake_cifar)!r}\nout_dir = {str(tmp_path / 'nb')!r}\n"
        "train_limit, test_limit = 20, 20\nexperiments = ['exp1_2']"
    )
    nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    assert (tmp_path / "nb" / "table.csv").exists()
    assert yaml.safe_load(SPEC_FILE.read_text())["base"]["epochs"] == 10


@pytest.mark.parametrize(("quick", "seeds", "shown"), [
    (False, [0], "--seeds 1"), (False, [0, 1, 2, 3, 4], None), (True, [0], None),
    (True, [0, 1, 2], "--seeds 3")])
def test_the_recorded_command_names_seeds_that_differ_from_the_default(quick, seeds, shown):
    cnn = study.CnnArchitecture(device="cpu")
    cnn.quick, cnn.seeds = quick, seeds
    line = cnn.command()
    assert (shown in line) if shown else "--seeds" not in line, line


@pytest.mark.parametrize(("key", "value"), [("experiments", 5), ("seed_list", "x"),
                                            ("quick", "yes"), ("hyperparameters", [1])])
def test_report_only_refuses_a_damaged_study_file(key, value, tmp_path):
    out = tmp_path / "damaged"
    out.mkdir()
    (out / "study.json").write_text(json.dumps({key: value}))
    with pytest.raises(ScratchlabError, match=f"damaged \\({key} of the wrong kind"):
        study.run(device="cpu", out_dir=out, verbose=False, report_only=True)
