"""Datasets: CIFAR-10, digits, populations, edges, shapes, behind one `get_dataset` registry.

    from scratchlab.data import get_dataset
    train = get_dataset("cifar10", "train", root="~/data", limit=5000)

Dataset modules are imported on first use of their name; the names below load on first use too.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LabeledTensorDataset": "scratchlab.data.base",
    "dataset_names": "scratchlab.data.registry",
    "dataset_options": "scratchlab.data.registry",
    "dataset_splits": "scratchlab.data.registry",
    "get_dataset": "scratchlab.data.registry",
    "register_dataset": "scratchlab.data.registry",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'scratchlab.data' has no attribute {name!r}")
