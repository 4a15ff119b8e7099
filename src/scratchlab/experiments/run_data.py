"""The data of a run: both splits on the run's device, in the loaders its trainer wants.

`load_run_data(config, device)` gives `TensorLoader`s (normalised and augmented as the config
says) for the classic trainer and the from-scratch engine, and the device-resident
`FastLoader`s for trainer fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from scratchlab.data import balanced_subset, dataset_options, get_dataset
from scratchlab.data.transforms import make_augmentation
from scratchlab.errors import ConfigError
from scratchlab.experiments.config import ExperimentConfig
from scratchlab.training import TensorLoader
from scratchlab.training.accel import make_fast_loaders


@dataclass
class RunData:
    """The loaders of one run and what the model needs to know about the data."""

    train: Any
    test: Any
    input_shape: tuple[int, ...]
    num_classes: int
    classes: list[str]


def load_split(config: ExperimentConfig, split: str, count: int | None, target: torch.device,
               **wanted: Any) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Inputs, labels and class names of one split on `target`, `count` of them class-balanced.

    `wanted`: dataset options used where the dataset accepts them (e.g. uint8 images).
    """
    d = config.data
    accepted = dataset_options(d.dataset)
    extra = {k: v for k, v in wanted.items() if accepted is None or k in accepted}
    dataset = get_dataset(d.dataset, split, root=d.data_root, **{**extra, **d.dataset_options})
    if not hasattr(dataset, "tensors"):
        raise ConfigError(f"dataset {d.dataset!r} is not a classification dataset of tensors; "
                          "it cannot be trained on with run-exp")
    x, y = dataset.tensors[0], dataset.tensors[1]
    if len(y) == 0:
        raise ConfigError(f"split {split!r} of dataset {d.dataset!r} is empty; check "
                          "dataset_options and limits")
    if count is not None:
        x, y = balanced_subset(x, y, count, config.seed)
    classes = list(getattr(dataset, "classes", [str(i) for i in range(int(y.max()) + 1)]))
    return x.to(target), y.to(target), classes


def load_run_data(config: ExperimentConfig, device: torch.device) -> RunData:
    """Both splits of a run on `device`, in the loaders of its trainer."""
    d, b = config.data, config.budget
    if config.trainer == "fast":  # both splits held on `device` in `FastLoader`s
        x_train, y_train, x_test, y_test, classes = fast_tensors(config, device)
        train, test = make_fast_loaders(
            x_train, y_train, x_test, y_test, config.fast, b.bs_train, b.test_batch_size,
            bf16=config.speed.precision == "bf16", channels_last=config.speed.channels_last,
            seed=config.seed)
        return RunData(train, test, tuple(x_train.shape[1:]), len(classes), classes)
    x_train, y_train, classes = load_split(config, d.train_split, d.train_limit, device)
    x_test, y_test, _ = load_split(config, d.test_split, d.test_limit, device)
    x_train, x_test = x_train.float(), x_test.float()
    if d.normalize:
        dims = [0, *range(2, x_train.dim())]
        mean = x_train.mean(dim=dims, keepdim=True)
        std = x_train.std(dim=dims, keepdim=True).clamp_min(1e-8)
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    # Augmentation draws from its own generator: runs sharing a process (threads) do not
    # interleave their draws, and checkpoints keep its state.
    generator = (torch.Generator(device=x_train.device).manual_seed(config.seed) if d.augment
                 else None)
    augment = make_augmentation(d.augment, generator) if d.augment else None
    train = TensorLoader(x_train, y_train, batch_size=b.bs_train, shuffle=True, seed=config.seed,
                         transform=augment, transform_generator=generator)
    test = TensorLoader(x_test, y_test, batch_size=b.test_batch_size)
    return RunData(train, test, tuple(x_train.shape[1:]), len(classes), classes)


def fast_tensors(config: ExperimentConfig, device: torch.device) -> tuple[Any, ...]:
    """Both splits on `device` as uint8 where the dataset can: x, y of train, x, y of test, and
    the class names."""
    d = config.data
    splits = []
    for name, limit in ((d.train_split, d.train_limit), (d.test_split, d.test_limit)):
        kw = {} if limit is None else {"limit": limit, "stratified": True}
        splits.append(load_split(config, name, limit, device, dtype="uint8", device=device, **kw))
    (x_train, y_train, classes), (x_test, y_test, _) = splits
    return x_train, y_train, x_test, y_test, classes
