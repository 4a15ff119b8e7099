"""Digits (`digits`): scikit-learn's bundled 8x8 handwritten digits (1,797 images, no download).

Splits: ``train`` and ``valid``, a seeded, class-stratified 50/50 split; ``test`` is an alias of
``valid`` (the set is too small for three parts).
"""

from __future__ import annotations

import numpy as np
import torch

from scratchlab.data.base import LabeledTensorDataset
from scratchlab.data.registry import register_dataset
from scratchlab.errors import ConfigError

TASKS = ("multiclass", "binary")


def digits_arrays(task: str = "multiclass", seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Standardised (train, valid) arrays: x (N, 64) float32, y (N,) int64.

    Each feature is shifted and scaled by the train split's mean and std (features with std 0,
    the always-blank corners, are only shifted).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if task not in TASKS:
        raise ConfigError(f"digits task must be one of {', '.join(TASKS)}, got {task!r}")
    bunch = load_digits()
    x, digit = bunch.data.astype(np.float64), bunch.target.astype(np.int64)
    x_tr, x_va, d_tr, d_va = train_test_split(
        x, digit, test_size=0.5, random_state=seed, stratify=digit
    )
    mean = x_tr.mean(axis=0)
    std = x_tr.std(axis=0)
    std[std == 0] = 1.0

    def label(d: np.ndarray) -> np.ndarray:
        return (d >= 5).astype(np.int64) if task == "binary" else d

    return {
        "train": (((x_tr - mean) / std).astype(np.float32), label(d_tr)),
        "valid": (((x_va - mean) / std).astype(np.float32), label(d_va)),
    }


@register_dataset("digits", splits=("train", "valid"), aliases={"test": "valid"})
def load_digits_dataset(
    split: str = "train",
    *,
    task: str = "multiclass",
    seed: int = 0,
    flatten: bool = False,
    device: str | torch.device | None = None,
    transform=None,
) -> LabeledTensorDataset:
    """One split of the 8x8 digits, standardised with the train split's statistics.

    Args:
        split: ``"train"`` or ``"valid"`` (``"test"`` means ``"valid"``).
        task: ``"multiclass"`` (labels 0-9) or ``"binary"`` (0: digits 0-4, 1: digits 5-9).
        seed: Seed of the 50/50 split.
        flatten: Inputs of shape (64,) instead of (1, 8, 8).
        device: Put the tensors on this device.
        transform: Applied to each input in `__getitem__`.
    """
    x, y = digits_arrays(task, seed)[split]
    xt = torch.from_numpy(x)
    if not flatten:
        xt = xt.reshape(-1, 1, 8, 8)
    classes = [str(d) for d in range(10)] if task == "multiclass" else ["0-4", "5-9"]
    ds = LabeledTensorDataset(xt, torch.from_numpy(y), classes, name="digits", transform=transform)
    return ds.to(device) if device is not None else ds
