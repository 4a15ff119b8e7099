"""Recipes: named sets of config fields for a known-good run, e.g. `run-exp --recipe cifar10-fast`.

The recipes live in `recipes.yaml` beside this module. Fields given alongside a recipe override
it (mappings key by key); `quick=True` shrinks a recipe to a CPU smoke run that still uses every
component.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

from scratchlab.errors import ConfigError
from scratchlab.experiments.config import ExperimentConfig, given_fields
from scratchlab.experiments.config_checks import GRAPHING_COMPILE_MODES
from scratchlab.training.accel.fast_settings import from_airbench

RECIPES_FILE = Path(__file__).with_name("recipes.yaml")


@functools.cache
def _book() -> dict[str, Any]:
    book = yaml.safe_load(RECIPES_FILE.read_text())
    for fields in book["recipes"].values():
        if source := fields.pop("airbench", None):  # airbench's (lr, weight_decay), converted
            fields["lr"], fields["reg"] = from_airbench(
                source["lr"], source["weight_decay"], momentum=fields["momentum"])
    return book


def recipe_names() -> list[str]:
    """The known recipe names, sorted."""
    return sorted(_book()["recipes"])


def recipe_fields(name: str, quick: bool = False) -> dict[str, Any]:
    """The config fields of recipe `name` (shrunk to a smoke run with `quick`); a fresh copy."""
    recipes = _book()["recipes"]
    if name not in recipes:
        raise ConfigError(f"unknown recipe {name!r}; choose one of {', '.join(recipe_names())}")
    extra = {**_book()["quick"], "run_name": recipes[name]["run_name"] + "-quick"} if quick else {}
    return copy.deepcopy({**recipes[name], **extra})


def recipe_config(name: str, quick: bool = False, **overrides: Any) -> ExperimentConfig:
    """The validated config of recipe `name` with `overrides` (any config fields) applied last.

    A mapping field (e.g. `model_options`) is updated key by key rather than replaced. A compile
    mode with CUDA graphs of its own (`reduce-overhead`) drops the recipe's `cuda_graph`.
    """
    fields = recipe_fields(name, quick)
    mode = overrides.get("compile_mode", fields.get("compile_mode"))
    graphing = overrides.get("compile") and mode in GRAPHING_COMPILE_MODES
    if graphing and "cuda_graph" not in overrides:
        fields.pop("cuda_graph", None)
    for key, value in overrides.items():
        base = fields.get(key)
        fields[key] = ({**base, **value} if isinstance(base, dict) and isinstance(value, dict)
                       else value)
    return ExperimentConfig.checked(fields, given_fields(overrides))
