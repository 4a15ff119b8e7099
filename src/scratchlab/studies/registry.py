"""The packaged studies, by name: `study_names()`, `get_study(name)`, imported on first use."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from scratchlab.errors import ConfigError

if TYPE_CHECKING:
    from scratchlab.studies.base import Study

# name -> module defining STUDY
STUDIES: dict[str, str] = {
    "gradient-descent": "scratchlab.studies.gradient_descent",
    "digits-networks": "scratchlab.studies.digits_networks",
    "backprop": "scratchlab.studies.backprop",
    "optimizers": "scratchlab.studies.optimizers",
    "dropout": "scratchlab.studies.dropout",
    "mlp-architecture": "scratchlab.studies.mlp_architecture",
    "inductive-bias": "scratchlab.studies.inductive_bias",
    "cnn-architecture": "scratchlab.studies.cnn_architecture",
    "policy-gradient": "scratchlab.studies.policy_gradient",
}


def study_names() -> list[str]:
    return list(STUDIES)


def get_study(name: str) -> type[Study]:
    """The `Study` class of study `name` (a ConfigError listing the studies for an unknown one)."""
    if name not in STUDIES:
        raise ConfigError(f"unknown study {name!r}; available: {', '.join(STUDIES)} "
                          "(see: scratchlab study list)")
    return importlib.import_module(STUDIES[name]).STUDY
