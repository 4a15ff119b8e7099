"""From a config to what the trainer needs: data on the device, a model, an optimizer, a loss."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from scratchlab import optim as scratch_optim
from scratchlab import scratch
from scratchlab.data import get_dataset
from scratchlab.data.transforms import batch_random_crop, batch_random_flip
from scratchlab.errors import ConfigError
from scratchlab.experiments.config import ExperimentConfig
from scratchlab.models import build_model
from scratchlab.training import TensorLoader
from scratchlab.training.cuda_graph import capturable_optimizer


@dataclass
class RunData:
    """The loaders of one run and what the model needs to know about the data."""

    train: TensorLoader
    test: TensorLoader
    input_shape: tuple[int, ...]
    num_classes: int
    classes: list[str]


def balanced_subset(x: torch.Tensor, y: torch.Tensor, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` samples with classes as equal as possible, drawn with `seed`, in a shuffled order."""
    if n >= len(y):
        return x, y
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(y), generator=generator)
    y_cpu = y.cpu()[order]
    rank = torch.zeros_like(y_cpu)
    for label in y_cpu.unique():
        where = y_cpu == label
        rank[where] = torch.arange(int(where.sum()))
    # Round-robin over classes: all first samples of each class, then all second ones, ...
    keep = order[torch.argsort(rank * (int(y_cpu.max()) + 1) + y_cpu, stable=True)[:n]]
    keep = keep.to(y.device)
    return x[keep], y[keep]


def load_split(config: ExperimentConfig, split: str, limit: int | None, device: torch.device) -> Any:
    dataset = get_dataset(config.dataset, split, root=config.data_root, **config.dataset_options)
    if not hasattr(dataset, "tensors"):
        raise ConfigError(f"dataset {config.dataset!r} is not a classification dataset of tensors; it cannot be trained on with run-exp")
    x, y = dataset.tensors[0], dataset.tensors[1]
    if limit is not None:
        x, y = balanced_subset(x, y, limit, config.seed)
    return dataset, x.to(device).float(), y.to(device)


def build_data(config: ExperimentConfig, device: torch.device) -> RunData:
    """Both splits as tensors on `device`, normalised and augmented as the config says."""
    train_set, x_train, y_train = load_split(config, config.train_split, config.train_limit, device)
    _, x_test, y_test = load_split(config, config.test_split, config.test_limit, device)
    if config.normalize:
        dims = [0, *range(2, x_train.dim())]
        mean, std = x_train.mean(dim=dims, keepdim=True), x_train.std(dim=dims, keepdim=True).clamp_min(1e-8)
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    # Augmentation draws from its own generator: runs sharing a process (threads) do not
    # interleave their draws, and checkpoints keep its state.
    augment_generator = torch.Generator(device=x_train.device).manual_seed(config.seed) if config.augment else None
    augment = make_augmentation(config.augment, augment_generator) if config.augment else None
    train = TensorLoader(x_train, y_train, batch_size=config.bs_train, shuffle=True, seed=config.seed,
                         transform=augment, transform_generator=augment_generator)
    test = TensorLoader(x_test, y_test, batch_size=config.test_batch_size)
    classes = list(getattr(train_set, "classes", [str(i) for i in range(int(y_train.max()) + 1)]))
    return RunData(train, test, tuple(x_train.shape[1:]), len(classes), classes)


def make_augmentation(names: list[str], generator: torch.Generator | None = None):
    """A batch transform applying the named GPU-side augmentations in order (random draws from
    `generator`, default torch's global one)."""
    steps = []
    for name in names:
        if name == "crop":
            steps.append(functools.partial(batch_random_crop, padding=4, generator=generator))
        elif name == "flip":
            steps.append(functools.partial(batch_random_flip, generator=generator))
        else:  # validated by the config; kept for direct callers
            raise ConfigError(f"unknown augmentation {name!r}; use crop or flip")

    def augment(x: torch.Tensor) -> torch.Tensor:
        for step in steps:
            x = step(x)
        return x

    return augment


def model_spec(config: ExperimentConfig, input_shape: tuple[int, ...], num_classes: int) -> dict[str, Any]:
    """The `build_model` spec of a config: one uniform mapping every family reads what it needs from."""
    spec = {
        "model_type": config.model_type,
        "in_size": input_shape,
        "out_classes": num_classes,
        "channels": config.channels,
        "pool_every": config.pool_every,
        "hidden_dims": config.hidden_dims,
        "activation_type": config.activation,
        "activation_params": config.activation_params,
        "pooling_type": config.pooling,
        "pooling_params": config.pooling_params,
        "conv_params": config.conv_params,
        "batchnorm": config.batchnorm,
        "dropout": config.dropout,
        "bottleneck": config.bottleneck,
    }
    spec.update(config.model_options)
    # Empty option mappings mean "the family's defaults" (e.g. 3x3 convs with padding 1).
    return {k: v for k, v in spec.items() if v != {}}


def build_run_model(config: ExperimentConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return build_model(model_spec(config, input_shape, num_classes))


def build_scratch_model(config: ExperimentConfig, input_shape: tuple[int, ...], num_classes: int) -> Any:
    """A from-scratch `scratch.MLP` (engine scratch): Linear, activation, [Dropout], ..., Linear."""
    return scratch.MLP(
        math.prod(input_shape), num_classes, config.hidden_dims, activation=config.activation,
        dropout=config.dropout, wstd=float(config.model_options.get("wstd", 0.1)),
    )


def trainable_params(model: Any) -> list[Any]:
    """Trainable parameters: (param, grad) pairs of a scratch model, or torch parameters."""
    if isinstance(model, nn.Module):
        return [p for p in model.parameters() if p.requires_grad]
    return model.params()


def build_optimizer(config: ExperimentConfig, model: nn.Module) -> Any:
    """A torch.optim or scratchlab.optim optimizer over the trainable parameters."""
    params = trainable_params(model)
    if not params:
        raise ConfigError(f"model {config.model_type!r} has no trainable parameters")
    lr, reg, mu = config.lr, config.reg, config.momentum
    if config.optimizer_impl == "scratch":
        return {
            "sgd": lambda: scratch_optim.VanillaSGD(params, learn_rate=lr, reg=reg),
            "momentum": lambda: scratch_optim.MomentumSGD(params, learn_rate=lr, reg=reg, momentum=mu),
            "rmsprop": lambda: scratch_optim.RMSProp(params, learn_rate=lr, reg=reg),
            "adam": lambda: scratch_optim.Adam(params, learn_rate=lr, reg=reg, betas=(mu, 0.999)),
        }[config.optimizer]()
    if config.cuda_graph:  # Adam/AdamW whose step a CUDA graph can capture (model already on the GPU)
        return capturable_optimizer(config.optimizer, params, lr, betas=(mu, 0.999), weight_decay=reg)
    return {
        "sgd": lambda: torch.optim.SGD(params, lr=lr, weight_decay=reg),
        "momentum": lambda: torch.optim.SGD(params, lr=lr, momentum=mu, weight_decay=reg),
        "rmsprop": lambda: torch.optim.RMSprop(params, lr=lr, weight_decay=reg),
        "adam": lambda: torch.optim.Adam(params, lr=lr, betas=(mu, 0.999), weight_decay=reg),
        "adamw": lambda: torch.optim.AdamW(params, lr=lr, betas=(mu, 0.999), weight_decay=reg),
    }[config.optimizer]()


def build_scheduler(config: ExperimentConfig, optimizer: Any, batches_per_epoch: int) -> Any:
    """A per-batch LambdaLR for `lr_schedule` (None for constant): warm-up, then cosine to 0."""
    if config.lr_schedule == "constant":
        return None
    total = max(1, config.epochs * batches_per_epoch)
    warmup = int(config.warmup_epochs * batches_per_epoch)
    if config.lr_schedule == "onecycle" and warmup == 0:
        warmup = max(1, total * 3 // 10)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
