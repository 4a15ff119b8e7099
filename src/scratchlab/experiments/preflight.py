"""Checks made before a run, sweep or study writes anything: where it writes, its data, its size.

`check_runs(configs)` checks every run of a sweep or study at once (output folders, datasets
present, each model's memory), so a bad grid point is refused before the first run starts; a
single run calls `util.folders.check_out_dir`, `check_data` and `check_model_size` on its way.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from typing import Any

from scratchlab.errors import ConfigError, ScratchlabError
from scratchlab.experiments.config import ExperimentConfig
from scratchlab.util.device import available_memory
from scratchlab.util.folders import check_out_dir

OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "rmsprop": 1, "adam": 2, "adamw": 2, "muon": 1}
CIFAR10_INPUT = ((3, 32, 32), 10, 50_000)  # input shape, classes, training images


def check_data(config: ExperimentConfig) -> None:
    """The dataset is known and made for classification, has the splits and takes the options;
    CIFAR-10 is found and its files are sound (nothing decoded or cached)."""
    from scratchlab.data import dataset_options, dataset_splits, dataset_task

    d = config.data
    splits = dataset_splits(d.dataset)
    if (task := dataset_task(d.dataset)) != "classification":
        raise ConfigError(f"dataset {d.dataset!r} is a {task} dataset; runs, sweeps and studies "
                          "train classifiers (detection: scratchlab detect)")
    for split in dict.fromkeys((d.train_split, d.test_split)):
        if split not in splits:
            raise ConfigError(f"dataset {d.dataset!r} has no split {split!r}; use one of: "
                              f"{', '.join(splits)}")
    accepted = dataset_options(d.dataset)
    unknown = [] if accepted is None else sorted(set(d.dataset_options) - set(accepted))
    if unknown:
        raise ConfigError(f"dataset {d.dataset!r} does not accept option(s) "
                          f"{', '.join(map(repr, unknown))}; accepted options: "
                          f"{', '.join(accepted) or '(none)'}")
    if d.dataset == "cifar10" and not d.dataset_options.get("download"):
        from scratchlab.data.cifar10 import check_cifar10

        for split in dict.fromkeys((d.train_split, d.test_split)):
            check_cifar10(split, d.data_root)


def model_memory(config: ExperimentConfig, input_shape: tuple[int, ...], num_classes: int,
                 batch: int) -> tuple[int, int] | None:
    """(parameters, bytes) training the run's model takes about: float32 weights, gradients and
    optimizer state, and twice the activations of a batch. The model is built on torch's meta
    device (nothing allocated); None when it cannot be built there."""
    import torch

    from scratchlab.experiments.build import build_run_model, trainable_params
    from scratchlab.models import summary

    try:
        with torch.device("meta"):
            model = build_run_model(config, input_shape, num_classes)
        params = sum(p[0].numel() if isinstance(p, tuple) else p.numel()
                     for p in trainable_params(model))
    except ScratchlabError as exc:
        raise type(exc)(f"run {config.run_name}: {exc}") from None
    except Exception:
        return None
    try:  # values the leaf modules output for one sample (0 where the model does not run on meta)
        activations = summary(model, input_shape).activations
    except Exception:
        activations = 0
    states = 2 + OPTIMIZER_STATES.get(config.optim.optimizer, 2)
    return params, 4 * (params * states + 2 * activations * batch)


def check_model_size(config: ExperimentConfig, input_shape: tuple[int, ...], num_classes: int,
                     train_samples: int | None, device: Any,
                     free: Callable[[Any], int | None] = available_memory) -> None:
    """Refuse a model whose training would not fit in `device`'s free memory (the size and the
    limit in the message; `free(device)` reads it)."""
    b = config.budget
    batch = max(1, min(b.bs_train, train_samples or b.bs_train))
    need = model_memory(config, tuple(input_shape), num_classes, batch)
    limit = free(device) if need is not None else None
    if need is None or limit is None or need[1] <= limit:
        return
    params, size = need
    raise ConfigError(
        f"run {config.run_name}: model_type {config.model.model_type} needs about "
        f"{_gib(size)} to train ({params:,} parameters, batch {batch}) but {device} has "
        f"{_gib(limit)} free; use fewer or narrower layers (-K, -L, -H) or a smaller batch")


def _gib(size: int) -> str:
    return f"{size / 2**30:.1f} GiB"


def data_shape(config: ExperimentConfig) -> tuple[tuple[int, ...], int, int | None]:
    """Input shape, number of classes and training samples of a run's data (CIFAR-10 from its
    known shape; other datasets, which are generated or bundled, by loading the test split)."""
    import torch

    from scratchlab.experiments.run_data import load_split

    d = config.data
    if d.dataset == "cifar10":
        shape, classes, samples = CIFAR10_INPUT
        return shape, classes, d.train_limit or samples
    x, _, classes = load_split(config, d.test_split, d.test_limit, torch.device("cpu"))
    return tuple(x.shape[1:]), len(classes), d.train_limit


def check_runs(configs: Sequence[ExperimentConfig], on_this_machine: bool = True) -> None:
    """Every run of a sweep or study, before the first starts: output folders, data and sizes.

    Runs that other machines train (`on_this_machine=False`, a Ray cluster) have only their
    output folders checked here: their data, devices and memory are the workers'.
    """
    from scratchlab.util import resolve_device

    for folder in sorted({str(c.out_dir) for c in configs}):
        check_out_dir(folder)
    if not on_this_machine:
        return
    shapes: dict[str, tuple[tuple[int, ...], int, int | None]] = {}
    sized: set[str] = set()
    free = functools.cache(available_memory)  # read once per device (a GPU's is slow)
    for config in configs:
        data_key = json.dumps(config.data.model_dump(mode="json"), sort_keys=True)
        if data_key not in shapes:
            check_data(config)
            shapes[data_key] = data_shape(config)
        shape, classes, samples = shapes[data_key]
        size_key = json.dumps([config.model.model_dump(mode="json"), config.optim.optimizer,
                               config.budget.bs_train, config.device, config.trainer,
                               config.fast.model_dump(mode="json"), shapes[data_key]],
                              sort_keys=True)
        if size_key not in sized:
            sized.add(size_key)
            check_model_size(config, shape, classes, samples, resolve_device(config.device), free)
