"""`optimizer: muon` in a config: scratchlab.optim.Muon, trains; refused where it cannot."""

from __future__ import annotations

import pytest
import torch

from scratchlab import optim
from scratchlab.errors import ConfigError
from scratchlab.experiments import ExperimentConfig, run_experiment
from scratchlab.experiments.build import build_optimizer

from .conftest import TINY


def test_muon_config_builds_scratchlab_muon_and_learns(tmp_path):
    config = ExperimentConfig.create(**{**TINY, "epochs": 4, "optimizer": "muon",
                                        "optimizer_impl": "scratch", "lr": 0.02,
                                        "momentum": 0.9, "out_dir": str(tmp_path),
                                        "run_name": "muon"})
    opt = build_optimizer(config, torch.nn.Linear(4, 3))
    assert isinstance(opt, optim.Muon) and opt.momentum == 0.9
    fit = run_experiment(config).fit
    assert fit.train_loss[-1] < fit.train_loss[0] and fit.test_acc[-1] > 40.0  # chance: 10%


@pytest.mark.parametrize(("fields", "message"), [
    ({"optimizer": "muon"}, "set optimizer_impl scratch"),
    ({"optimizer": "adam", "optimizer_impl": "scratch", "lr_schedule": "cosine"},
     "lr_schedule cosine schedules torch.optim optimizers"),
])
def test_muon_and_schedules_refused_where_they_cannot_train(fields, message):
    with pytest.raises(ConfigError, match=message):
        ExperimentConfig.create(**TINY, **fields)
