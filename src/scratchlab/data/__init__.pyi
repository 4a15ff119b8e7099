from .base import LabeledTensorDataset
from .registry import dataset_names, dataset_options, dataset_splits, get_dataset, register_dataset

__all__ = [
    "LabeledTensorDataset",
    "dataset_names",
    "dataset_options",
    "dataset_splits",
    "get_dataset",
    "register_dataset",
]
