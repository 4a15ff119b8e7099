"""q7: why DeeperCNN can sit at chance: spread, dead channels and gradients per ReLU layer."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from scratchlab.models import build_model
from scratchlab.training import FitResult

from .plan import KERNEL, MODEL_TYPES, model_options

HE_VARIANT = "deeper_cnn_he"
INIT_MODELS = ("cnn", "wider_cnn", "deeper_cnn", HE_VARIANT)


def fresh_model(name: str, num_classes: int) -> nn.Module:
    """A study model as initialised (`deeper_cnn_he`: DeeperCNN with He initialisation)."""
    kernel = None if name == "mlp" else KERNEL
    spec = {"model_type": MODEL_TYPES[name.removesuffix("_he")], "out_classes": num_classes}
    model = build_model({**spec, **model_options(kernel)})
    return he_init(model) if name == HE_VARIANT else model


def he_init(model: nn.Module) -> nn.Module:
    """Re-initialise every convolution with He (Kaiming normal, ReLU gain) weights, zero bias."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            nn.init.zeros_(module.bias)
    return model


def relu_outputs(model: nn.Module, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The output of every ReLU of `model.features` on `x`, and the model's scores."""
    outputs: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: outputs.append(out))
             for m in model.features if isinstance(m, nn.ReLU)]
    try:
        scores = model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return outputs, scores


def layer_stats(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[dict[str, float]]:
    """Per ReLU layer: dead channels, output std across images, conv grad norm, constant scores."""
    model.zero_grad()
    outputs, scores = relu_outputs(model, x)
    nn.functional.cross_entropy(scores, y).backward()
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    constant = float(scores.detach().std(dim=0).max()) < 1e-6
    return [{"dead": float((out.detach().amax(dim=(0, 2, 3)) <= 0).float().mean()),
             "spread": float(out.detach().std(dim=0).mean()),
             "grad": float(conv.weight.grad.norm()), "constant": constant}
            for out, conv in zip(outputs, convs, strict=True)]


def init_diagnosis(x: torch.Tensor, y: torch.Tensor, draws: int,
                   models: tuple[str, ...] = INIT_MODELS) -> pd.DataFrame:
    """`layer_stats` over `draws` initialisations per (model, ReLU layer): dead (mean), all_dead
    and constant_output (fractions of draws), spread and grad (medians)."""
    num_classes = int(y.max()) + 1
    rows = []
    with torch.random.fork_rng(devices=[]):
        for name in models:
            per_draw = []
            for draw in range(draws):
                torch.manual_seed(draw)
                per_draw.append(layer_stats(fresh_model(name, num_classes), x, y))
            constant = float(np.mean([d[0]["constant"] for d in per_draw]))
            for layer in range(len(per_draw[0])):
                v = {k: np.array([d[layer][k] for d in per_draw])
                     for k in ("dead", "spread", "grad")}
                rows.append({
                    "model": name, "layer": layer + 1, "dead": v["dead"].mean(),
                    "all_dead": float((v["dead"] == 1).mean()),
                    "spread": float(np.median(v["spread"])), "grad": float(np.median(v["grad"])),
                    "constant_output": constant,
                })
    return pd.DataFrame(rows)


def escape_epoch(train_acc: list[float], chance: float, margin: float = 20.0) -> int | None:
    """The first epoch with train accuracy >= chance + `margin` (None: never)."""
    return next((i + 1 for i, acc in enumerate(train_acc) if acc >= chance + margin), None)


def trained_diagnosis(table: pd.DataFrame, history: Callable[[str], FitResult | None],
                      weights: Callable[[str], tuple[nn.Module, torch.Tensor] | None]
                      ) -> pd.DataFrame:
    """Per q7 run: accuracy, at chance or not, escape epoch, dead channels (if weights kept)."""
    rows = []
    for _, row in table[(table["experiment"] == "q7") & (table["status"] == "ok")].iterrows():
        chance = 100.0 / row["classes"]
        fit = history(row["run_name"])
        dead = ""
        if (loaded := weights(row["run_name"])) is not None:
            with torch.no_grad():
                outputs, _ = relu_outputs(*loaded)
            dead = " ".join(f"{int((o.amax(dim=(0, 2, 3)) <= 0).sum())}/{o.shape[1]}"
                            for o in outputs)
        rows.append({
            "model": row["model"], "lr": row["lr"], "seed": row["seed"],
            "valid_acc": row["valid_acc"], "at_chance": bool(row["valid_acc"] < chance + 10),
            "escape_epoch": escape_epoch(fit.train_acc, chance) if fit is not None else None,
            "dead_channels": dead,
        })
    columns = ["model", "lr", "seed", "valid_acc", "at_chance", "escape_epoch", "dead_channels"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["escape_epoch"] = frame["escape_epoch"].astype("Int64")
    return frame


def spread_drop(diagnosis: pd.DataFrame, model: str) -> float:
    """Ratio of the first ReLU layer's output spread to the last one's (median initialisation)."""
    spread = diagnosis[diagnosis["model"] == model].sort_values("layer")["spread"].to_numpy()
    if len(spread) < 2 or spread[-1] <= 0:
        return math.nan
    return float(spread[0] / spread[-1])
