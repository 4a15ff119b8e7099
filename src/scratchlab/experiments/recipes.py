"""Recipes: named sets of config fields for a known-good run, e.g. `run-exp --recipe cifar10-fast`.

- `cifar10-fast`: airbench94 (KellerJordan/cifar10-airbench) on `yourcnn_fast` with the fast
  trainer: 94% on the original CIFAR-10 in a few seconds on one GPU (about 91% on the JPEG
  re-encoding in shared/data).
- `cifar10-long`: airbench96 (a wider net with residual groups of three convs, cutout, 31
  epochs): 96% on the original CIFAR-10 (about 93% on the JPEG file).

Fields given alongside a recipe override it (mappings key by key); `quick=True` shrinks a recipe to
a CPU smoke run (few images, a narrow net, three epochs) that still uses every component.
"""

from __future__ import annotations

from typing import Any

from scratchlab.errors import ConfigError
from scratchlab.experiments.config import ExperimentConfig, given_fields
from scratchlab.training.accel.fast_settings import from_airbench

# airbench's decoupled (lr, weight_decay) in scratchlab's units (lr on the batch-mean loss, L2)
FAST_LR, FAST_REG = from_airbench(11.5, 0.0153, momentum=0.85)  # 1.5, 0.00133
LONG_LR, LONG_REG = from_airbench(9.0, 0.012, momentum=0.85)

_FAST_COMMON: dict[str, Any] = {
    "dataset": "cifar10",
    "trainer": "fast",
    "model_type": "yourcnn_fast",
    "activation": "gelu",
    "optimizer": "momentum",
    "momentum": 0.85,
    "nesterov": True,
    "bias_lr_scale": 64.0,
    "label_smoothing": 0.2,
    "bs_train": 1024,
    "bs_test": 2000,
    "batches": None,
    "early_stopping": None,
    "checkpoints": False,
    "ema": True,
    "ema_every": 5,
    "ema_decay": 0.95,
    "whiten": True,
    "whiten_bias_epochs": 3,
    "identity_init": True,
    "flip": "alternating",
    "tta_level": 2,
    "precision": "bf16",
    "channels_last": True,
}

RECIPES: dict[str, dict[str, Any]] = {
    "cifar10-fast": {  # airbench94: 3 groups of 2 convs, widths 64/256/256
        **_FAST_COMMON,
        "run_name": "cifar10-fast",
        "filters_per_layer": [64, 256, 256],
        "layers_per_block": 2,
        "pool_every": 2,
        "model_options": {"whiten_kernel_size": 2, "bn_momentum": 0.4, "logit_scale": 1 / 9},
        # airbench94 trains 9.9 epochs on the original data; 13 reach 90.8% on the JPEG file
        # (docs/fast-cifar.md)
        "epochs": 13,
        "lr": FAST_LR,
        "reg": FAST_REG,
        "lr_start": 0.2,
        "lr_peak": 0.23,
        "lr_end": 0.07,
        "ema_start_epoch": 3,
        "translate": 2,
        "cutout": 0,
    },
    # airbench96 (June 2024): 3 groups of 3 convs with residuals, widths 128/512/512
    "cifar10-long": {
        **_FAST_COMMON,
        "run_name": "cifar10-long",
        "filters_per_layer": [128, 512, 512],
        "layers_per_block": 3,
        "pool_every": 3,
        "model_options": {"whiten_kernel_size": 2, "bn_momentum": 0.1, "logit_scale": 1 / 9},
        "epochs": 31,
        "lr": LONG_LR,
        "reg": LONG_REG,
        "lr_start": 0.2,
        "lr_peak": 0.1,
        "lr_end": 0.0,
        "ema_start_epoch": 0,
        "translate": 4,
        "cutout": 12,
    },
}

# A CPU smoke run of any recipe: a few hundred images, a narrow net, averaging and the bias freeze
# inside 3 epochs.
QUICK: dict[str, Any] = {
    "train_limit": 500,
    "test_limit": 200,
    "epochs": 3,
    "bs_train": 100,
    "bs_test": 100,
    "filters_per_layer": [8, 16, 16],
    "ema_start_epoch": 1,
    "whiten_bias_epochs": 1,
    "precision": "fp32",
    "compile": False,
    "channels_last": False,
}


def recipe_names() -> list[str]:
    """The known recipe names, sorted."""
    return sorted(RECIPES)


def recipe_fields(name: str, quick: bool = False) -> dict[str, Any]:
    """The config fields of recipe `name` (shrunk to a smoke run with `quick`)."""
    if name not in RECIPES:
        raise ConfigError(f"unknown recipe {name!r}; choose one of {', '.join(recipe_names())}")
    fields = {**RECIPES[name], **(QUICK if quick else {})}
    if quick:
        fields["run_name"] = f"{fields['run_name']}-quick"
    return {k: list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v for k,
            v in fields.items()}


def recipe_config(name: str, quick: bool = False, **overrides: Any) -> ExperimentConfig:
    """The validated config of recipe `name` with `overrides` (any config fields) applied last.

    A mapping field (e.g. `model_options`) is updated key by key rather than replaced.
    """
    fields = recipe_fields(name, quick)
    for key, value in overrides.items():
        base = fields.get(key)
        fields[key] = ({**base, **value} if isinstance(base, dict) and isinstance(value, dict)
                       else value)
    return ExperimentConfig.checked(fields, given_fields(overrides))
