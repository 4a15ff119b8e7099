"""The fast trainer's side of a run (config field `trainer: fast`): its settings, data and model."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from scratchlab.data import dataset_options, get_dataset
from scratchlab.errors import ConfigError
from scratchlab.experiments.config import ExperimentConfig
from scratchlab.experiments.pipeline import RunData, balanced_subset, model_spec
from scratchlab.models import build_model
from scratchlab.models import summary as model_summary
from scratchlab.training.fast import FastSettings, FastTrainer, make_fast_loaders


def fast_settings(config: ExperimentConfig) -> FastSettings:
    """The `FastSettings` of a config (`reg` is the weight decay; optimizer sgd means no momentum)."""
    shared = {f.name: getattr(config, f.name) for f in dataclasses.fields(FastSettings)
              if f.name in ExperimentConfig.model_fields and f.name != "momentum"}
    momentum = config.momentum if config.optimizer == "momentum" else 0.0
    return FastSettings(**shared, batch_size=config.bs_train, test_batch_size=config.test_batch_size,
                        weight_decay=config.reg, momentum=momentum)


def load_fast_split(config: ExperimentConfig, split: str, limit: int | None, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """One split on `device`, as uint8 and class-balanced-limited by the dataset itself where it can."""
    accepted = dataset_options(config.dataset) or ()
    wanted = {"dtype": "uint8", "device": device, "limit": limit, "stratified": limit is not None}
    options = {k: v for k, v in wanted.items() if k in accepted and v is not None}
    dataset = get_dataset(config.dataset, split, root=config.data_root, **{**options, **config.dataset_options})
    if not hasattr(dataset, "tensors"):
        raise ConfigError(f"dataset {config.dataset!r} is not a classification dataset of tensors; it cannot be trained on with run-exp")
    x, y = dataset.tensors[0], dataset.tensors[1]
    if limit is not None and limit < len(y):
        x, y = balanced_subset(x, y, limit, config.seed)
    classes = list(getattr(dataset, "classes", [str(i) for i in range(int(y.max()) + 1)]))
    return x.to(device), y.to(device), classes


def build_fast_data(config: ExperimentConfig, device: torch.device) -> RunData:
    """Both splits held on `device` in the fast trainer's loaders."""
    x_train, y_train, classes = load_fast_split(config, config.train_split, config.train_limit, device)
    x_test, y_test, _ = load_fast_split(config, config.test_split, config.test_limit, device)
    train, test = make_fast_loaders(x_train, y_train, x_test, y_test, fast_settings(config), seed=config.seed)
    return RunData(train, test, tuple(x_train.shape[1:]), len(classes), classes)  # type: ignore[arg-type]


def build_fast_trainer(config: ExperimentConfig, data: RunData, device: torch.device) -> tuple[nn.Module, FastTrainer, dict[str, Any]]:
    """The model (with the fast fields `whiten`, `identity_init` unless model_options set them) and its FastTrainer."""
    spec = model_spec(config, data.input_shape, data.num_classes)
    spec.setdefault("whiten", config.whiten)
    spec.setdefault("identity_init", config.identity_init)
    model = build_model(spec)
    info = model_summary(model, data.input_shape)
    trainer = FastTrainer(model, fast_settings(config), device=device)
    return model, trainer, {"params": info.params, "flops": info.flops}
