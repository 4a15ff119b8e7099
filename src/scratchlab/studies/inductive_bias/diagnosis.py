"""q7: why DeeperCNN can sit at chance: spread, dead channels and gradients per ReLU layer."""

from __future__ import annotations

import math

import pandas as pd
import torch
from torch import nn

from scratchlab.models import build_model, stacked_layer_stats

from .plan import KERNEL, MODEL_TYPES

HE_VARIANT = "deeper_cnn_he"
INIT_MODELS = ("cnn", "wider_cnn", "deeper_cnn", HE_VARIANT)


def fresh_model(name: str, num_classes: int) -> nn.Module:
    """A study model as initialised (`deeper_cnn_he`: DeeperCNN with He-initialised convs)."""
    options = {} if name == "mlp" else {"kernel_size": KERNEL}
    model = build_model({"model_type": MODEL_TYPES[name.removesuffix("_he")],
                         "out_classes": num_classes, **options})
    if name == HE_VARIANT:
        he_init(model)
    return model


def he_init(model: nn.Module) -> None:
    """He-normal weights and zero biases for every convolution of `model` (in place)."""
    for conv in (m for m in model.modules() if isinstance(m, nn.Conv2d)):
        nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
        nn.init.zeros_(conv.bias)


def initial_draws(name: str, num_classes: int,
                  draws: int) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """`fresh_model(name)` and its parameters after `torch.manual_seed(d)` for each draw d,
    stacked (draws, ...): the values of one model built per draw, from one model initialised
    again each time (its layers in the order they were built), at a third of the cost."""
    model = fresh_model(name, num_classes)
    stacks: dict[str, list[torch.Tensor]] = {k: [] for k, _ in model.named_parameters()}
    for draw in range(draws):
        torch.manual_seed(draw)
        for layer in model.modules():
            if layer is not model and callable(reset := getattr(layer, "reset_parameters", None)):
                reset()
        if name == HE_VARIANT:
            he_init(model)
        for key, value in model.named_parameters():
            stacks[key].append(value.detach().clone())
    return model, {key: torch.stack(values) for key, values in stacks.items()}


def init_diagnosis(x: torch.Tensor, y: torch.Tensor, draws: int,
                   models: tuple[str, ...] = INIT_MODELS) -> pd.DataFrame:
    """`layer_stats` over `draws` initialisations per (model, ReLU layer), on `x`'s device: dead
    (mean), all_dead and constant_output (fractions of draws), spread and grad (medians). The
    draws of one model are measured together (`stacked_layer_stats`)."""
    num_classes, rows = int(y.max()) + 1, []
    with torch.random.fork_rng(devices=[]):
        for name in models:
            model, params = initial_draws(name, num_classes, draws)
            for stats in stacked_layer_stats(model, params, {}, x, y):
                rows += [{"model": name, "layer": i + 1, **s} for i, s in enumerate(stats)]
    return pd.DataFrame(rows).groupby(["model", "layer"], sort=False).agg(
        dead=("dead", "mean"), all_dead=("dead", lambda d: float((d == 1).mean())),
        spread=("spread", "median"), grad=("grad", "median"),
        constant_output=("constant", "mean")).reset_index()


def escape_epoch(train_acc: list[float], chance: float, margin: float = 20.0) -> int | None:
    """The first epoch with train accuracy >= chance + `margin` (None: never)."""
    return next((i + 1 for i, acc in enumerate(train_acc) if acc >= chance + margin), None)


def spread_drop(diagnosis: pd.DataFrame, model: str) -> float:
    """Ratio of the first ReLU layer's output spread to the last one's (median initialisation)."""
    spread = diagnosis[diagnosis["model"] == model].sort_values("layer")["spread"].to_numpy()
    return float(spread[0] / spread[-1]) if len(spread) > 1 and spread[-1] > 0 else math.nan
