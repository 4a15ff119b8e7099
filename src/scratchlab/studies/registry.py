"""The packaged studies, by name: `study_names()`, `get_study(name)`, imported on first use."""

from __future__ import annotations

import importlib
from types import ModuleType

from scratchlab.errors import ConfigError

# name -> module; each module has NAME, DESCRIPTION and run(...).
STUDIES: dict[str, str] = {
    "gradient-descent": "scratchlab.studies.gradient_descent",
    "digits-networks": "scratchlab.studies.digits_networks",
    "backprop": "scratchlab.studies.backprop",
    "optimizers": "scratchlab.studies.optimizers",
    "dropout": "scratchlab.studies.dropout",
    "mlp-architecture": "scratchlab.studies.mlp_architecture",
    "inductive-bias": "scratchlab.studies.inductive_bias",
    "cnn-architecture": "scratchlab.studies.cnn_architecture",
}


def study_names() -> list[str]:
    return list(STUDIES)


def get_study(name: str) -> ModuleType:
    """The module of study `name` (ConfigError listing the studies for an unknown name)."""
    if name not in STUDIES:
        raise ConfigError(f"unknown study {name!r}; available: {', '.join(STUDIES) or '(none)'} (see: scratchlab study list)")
    return importlib.import_module(STUDIES[name])
