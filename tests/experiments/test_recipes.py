"""Recipes, the fast trainer through run_experiment, and the `run-exp --recipe` smoke run."""

from __future__ import annotations

import argparse
import itertools
import json

import pytest
import torch

from scratchlab.cli import main
from scratchlab.cli.config_flags import add_config_flags, config_from_args
from scratchlab.errors import ConfigError
from scratchlab.experiments import load_experiment, load_model, run_experiment
from scratchlab.experiments.build import build_trainer, model_spec
from scratchlab.experiments.recipes import recipe_config, recipe_fields, recipe_names
from scratchlab.models import build_model
from scratchlab.models.fastcnn import FastCNN
from scratchlab.training.accel.fast_settings import from_airbench

DIGITS_LR, DIGITS_REG = from_airbench(200.0, 1e-3, momentum=0.9, batch_size=32)

FAST_DIGITS = {
    "dataset": "digits",
    "test_split": "valid",
    "trainer": "fast",
    "optimizer": "momentum",
    "model_type": "yourcnn_fast",
    "filters_per_layer": [8, 16],
    "layers_per_block": 1,
    "pool_every": 1,
    "activation": "gelu",
    "epochs": 2,
    "batches": None,
    "bs_train": 32,
    "bs_test": 200,
    "lr": DIGITS_LR,
    "reg": DIGITS_REG,
    "translate": 1,
    "flip": "none",  # digits are not mirror-symmetric
    "tta_level": 0,
    "ema_start_epoch": 1,
    "whiten_bias_epochs": 1,
    "early_stopping": None,
    "precision": "fp32",
    "channels_last": False,
    "device": "cpu",
}


pytestmark = pytest.mark.usefixtures("one_thread")


def parse(argv):
    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    return config_from_args(parser.parse_args(argv))


@pytest.mark.parametrize("name", recipe_names())
@pytest.mark.parametrize("quick", [False, True])
def test_every_recipe_is_a_valid_fast_config(name, quick):
    config = recipe_config(name, quick=quick)
    assert config.trainer == "fast" and config.model.model_type == "yourcnn_fast"
    model = build_model(model_spec(config, (3, 32, 32), 10))
    assert isinstance(model, FastCNN) and model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_fast_recipe_builds_the_airbench94_net():
    config = recipe_config("cifar10-airbench94")
    model = build_model(model_spec(config, (3, 32, 32), 10))
    widths = [24, 64, 64, 256, 256, 256, 256]
    convs = sum(a * b * 9 for a, b in itertools.pairwise(widths))
    trainable = convs + 24 + sum(widths[1:]) + 256 * 10  # whitening bias, BatchNorm shifts, head
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == trainable
    assert model.whiten.weight.shape == (24, 3, 2, 2) and model.logit_scale == pytest.approx(1 / 9)


def test_long_recipe_has_residual_groups_of_three():
    config = recipe_config("cifar10-long")
    model = build_model(model_spec(config, (3, 32, 32), 10))
    groups = [m for m in model.features if hasattr(m, "residual")]
    assert [len(g.convs) for g in groups] == [3, 3, 3] and all(g.residual for g in groups)
    assert [g.convs[-1].out_channels for g in groups] == [128, 512, 512]


def test_flags_override_the_recipe_and_mappings_merge():
    config = parse(
        [
            "--recipe",
            "cifar10-airbench94",
            "--lr",
            "5",
            "--no-ema",
            "--tta-level",
            "1",
            "--model-options",
            "{logit_scale: 0.2}",
        ]
    )
    assert config.optim.lr == 5 and config.fast.ema is False and config.fast.tta_level == 1
    assert config.model.model_options == {
        "whiten_kernel_size": 2,
        "bn_momentum": 0.4,
        "logit_scale": 0.2,
    }
    recipe = recipe_fields("cifar10-airbench94")
    assert config.optim.reg == recipe["reg"] and config.budget.epochs == recipe["epochs"]
    assert config.run_name == "cifar10-airbench94_L2_K64-256-256"
    quick = parse(["--recipe", "cifar10-long", "--quick", "--epochs", "2"])
    assert quick.budget.epochs == 2 and quick.data.train_limit == 500 and quick.fast.cutout == 12


def test_recipe_errors():
    with pytest.raises(ConfigError, match="--recipe"):
        parse(["--quick"])
    with pytest.raises(ConfigError, match="unknown recipe"):
        recipe_fields("cifar100-fast")
    with pytest.raises(ConfigError, match="optimizer"):
        recipe_config("cifar10-airbench94", optimizer="adam")
    with pytest.raises(ConfigError, match="augment"):
        recipe_config("cifar10-airbench94", augment=["crop"])
    with pytest.raises(SystemExit) as exit_info:
        main(["run-exp", "--recipe", "imagenet-fast"])
    assert exit_info.value.code == 2


def test_compile_with_graphs_of_its_own_takes_the_place_of_the_recipes_cuda_graph():
    assert recipe_fields("cifar10-fast")["cuda_graph"] is True
    assert recipe_config("cifar10-fast").speed.cuda_graph
    both = recipe_config("cifar10-fast", compile=True)  # mode default: inside the step's graph
    assert both.speed.compile and both.speed.cuda_graph
    compiled = recipe_config("cifar10-fast", compile=True, compile_mode="reduce-overhead")
    assert compiled.speed.compile and not compiled.speed.cuda_graph
    parsed = parse(["--recipe", "cifar10-fast", "--compile", "--compile-mode", "reduce-overhead"])
    assert parsed.speed.compile and not parsed.speed.cuda_graph
    with pytest.raises(ConfigError, match="both replay CUDA graphs"):  # both asked: told
        recipe_config("cifar10-fast", compile=True, compile_mode="reduce-overhead",
                      cuda_graph=True)


def test_the_fast_trainer_gets_the_configs_cudnn_benchmark(monkeypatch):
    from scratchlab.experiments import RunData
    from scratchlab.training.accel import FastTrainer

    seen = []
    original = FastTrainer.__init__

    def spy(self, *args, **kwargs):
        seen.append(kwargs["cudnn_benchmark"])
        original(self, *args, **kwargs)

    monkeypatch.setattr(FastTrainer, "__init__", spy)
    data = RunData(None, None, (3, 32, 32), 10, [str(i) for i in range(10)])
    for value in (True, False):
        config = recipe_config("cifar10-fast", quick=True, cudnn_benchmark=value)
        build_trainer(config, data, torch.device("cpu"), [])
    assert seen == [True, False]
    autotuned = {name: recipe_config(name).speed.cudnn_benchmark for name in recipe_names()}
    # cifar10-fast skips the autotuning: no faster once warm, and seconds saved in a cold process
    muon = {"cifar10-fast", "cifar10-muon"}
    assert autotuned == {name: name not in muon for name in recipe_names()}


def test_cifar10_muon_is_the_fast_recipe_under_its_former_name():
    fast, muon = recipe_fields("cifar10-fast"), recipe_fields("cifar10-muon")
    assert muon.pop("run_name") == "cifar10-muon" and fast.pop("run_name") == "cifar10-fast"
    assert muon == fast and fast["filter_optimizer"] == "muon"


def test_recipe_fields_are_copies():
    fields = recipe_fields("cifar10-airbench94")
    fields["filters_per_layer"].append(1)
    fields["model_options"]["bn_momentum"] = 0.9
    assert recipe_fields("cifar10-airbench94")["filters_per_layer"] == [64, 256, 256]
    assert recipe_fields("cifar10-airbench94")["model_options"]["bn_momentum"] == 0.4


def test_the_fast_trainer_gets_the_config_in_the_units_of_every_trainer():
    from scratchlab.experiments import RunData

    config = recipe_config("cifar10-airbench94", quick=True, reg=0.01, cutout=3)
    data = RunData(None, None, (3, 32, 32), 10, [str(i) for i in range(10)])
    trainer = build_trainer(config, data, torch.device("cpu"), []).trainer
    assert trainer.settings is config.fast and trainer.settings.cutout == 3
    groups = trainer.optimizer.param_groups  # BatchNorm parameters, then the rest
    assert groups[1]["lr"] == config.optim.lr == pytest.approx(1.5)
    assert groups[1]["momentum"] == 0.85 and groups[1]["nesterov"]
    for group in groups:
        assert group["lr"] * group["weight_decay"] == pytest.approx(config.optim.lr * 0.01)
    sgd = recipe_config("cifar10-airbench94", quick=True, optimizer="sgd")
    assert (
        build_trainer(sgd, data, torch.device("cpu"), []).trainer.optimizer.defaults["momentum"]
        == 0.0
    )


def test_the_recipes_are_airbench_in_scratchlab_units():
    m = recipe_fields("cifar10-airbench94")["momentum"]
    rate = 11.5 / (1024 * (1 + 1 / (1 - m)))  # airbench94: SGD on the loss summed over 1024
    assert recipe_fields("cifar10-airbench94")["lr"] / 1024 == pytest.approx(rate, rel=1e-12)
    assert recipe_fields("cifar10-airbench94")["reg"] == pytest.approx(0.0153 / 11.5)


def test_fast_trainer_through_run_experiment(tmp_path):
    result = run_experiment(
        {**FAST_DIGITS, "out_dir": str(tmp_path), "run_name": "fast_digits"}, verbose=False
    )
    data = json.loads(result.path.read_text())
    assert data["config"]["trainer"] == "fast" and data["status"] == "ok"
    assert len(data["timings"]["seconds_per_epoch"]) == 2
    assert 0 <= data["summary"]["plain_test_acc"] <= 100
    _config, fit = load_experiment(result.path)
    assert fit == result.fit and fit.test_acc[-1] > 40.0  # 10 classes: chance is 10%
    model = load_model(result.path)
    assert isinstance(model, FastCNN) and not model.training


def test_run_exp_recipe_quick_smoke(cifar_npz, tmp_path, capsys):
    out = tmp_path / "results"
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "run-exp",
                "--recipe",
                "cifar10-fast",
                "--quick",
                "--data-root",
                str(cifar_npz),
                "-o",
                str(out),
                "--device",
                "cpu",
            ]
        )
    assert exit_info.value.code == 0, capsys.readouterr().err
    data = json.loads((out / "cifar10-fast-quick_L2_K8-16-16.json").read_text())
    assert data["config"]["trainer"] == "fast" and data["summary"]["epochs"] == 3
    assert len(data["results"]["test_acc"]) == 3 and data["summary"]["plain_test_acc"] is not None
