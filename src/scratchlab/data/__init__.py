"""Datasets: CIFAR-10, digits, populations, edges, shapes, behind one `get_dataset` registry.

    from scratchlab.data import get_dataset
    train = get_dataset("cifar10", "train", root="~/data", limit=5000)

Dataset modules are imported on first use of their name; this package imports only the registry,
the dataset base class and the transforms.
"""

from scratchlab.data.base import LabeledTensorDataset
from scratchlab.data.registry import (
    dataset_names,
    dataset_options,
    dataset_splits,
    get_dataset,
    register_dataset,
)

__all__ = [
    "LabeledTensorDataset",
    "dataset_names",
    "dataset_options",
    "dataset_splits",
    "get_dataset",
    "register_dataset",
]
