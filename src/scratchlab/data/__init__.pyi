from .base import LabeledTensorDataset, balanced_subset
from .registry import (
    dataset_names,
    dataset_options,
    dataset_splits,
    dataset_task,
    get_dataset,
    register_dataset,
)

__all__ = [
    "LabeledTensorDataset",
    "balanced_subset",
    "dataset_names",
    "dataset_options",
    "dataset_splits",
    "dataset_task",
    "get_dataset",
    "register_dataset",
]
