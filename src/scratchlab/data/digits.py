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
NORMALIZE = ("feature", "global")


def digits_arrays(
    task: str = "multiclass", seed: int = 0, normalize: str = "feature"
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Standardised (train, valid) arrays: x (N, 64) float32, y (N,) int64.

    ``normalize="feature"``: each feature is shifted and scaled by the train split's mean and std
    (features with std 0, the always-blank corners, are only shifted). ``"global"``: the Radboud
    A1 seed's normalisation, one mean and one std over every pixel value of all 1,797 images (the
    seed then prints min -0.8118 and max 1.8475 for its training set).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if task not in TASKS:
        raise ConfigError(f"digits task must be one of {', '.join(TASKS)}, got {task!r}")
    if normalize not in NORMALIZE:
        raise ConfigError(
            f"digits normalize must be one of {', '.join(NORMALIZE)}, got {normalize!r}"
        )
    bunch = load_digits()
    x, digit = bunch.data.astype(np.float64), bunch.target.astype(np.int64)
    x_tr, x_va, d_tr, d_va = train_test_split(
        x, digit, test_size=0.5, random_state=seed, stratify=digit
    )
    if normalize == "global":
        mean, std = x.mean(), x.std()
    else:
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
    normalize: str = "feature",
    device: str | torch.device | None = None,
    transform=None,
) -> LabeledTensorDataset:
    """One split of the 8x8 digits, standardised per feature or globally.

    Args:
        split: ``"train"`` or ``"valid"`` (``"test"`` means ``"valid"``).
        task: ``"multiclass"`` (labels 0-9) or ``"binary"`` (0: digits 0-4, 1: digits 5-9).
        seed: Seed of the 50/50 split.
        flatten: Inputs of shape (64,) instead of (1, 8, 8).
        normalize: ``"feature"`` (each pixel by the train split's mean and std) or ``"global"``
            (the Radboud A1 seed's: one mean and std over all pixel values of the digits).
        device: Put the tensors on this device.
        transform: Applied to each input in `__getitem__`.
    """
    x, y = digits_arrays(task, seed, normalize)[split]
    xt = torch.from_numpy(x)
    if not flatten:
        xt = xt.reshape(-1, 1, 8, 8)
    classes = [str(d) for d in range(10)] if task == "multiclass" else ["0-4", "5-9"]
    ds = LabeledTensorDataset(xt, torch.from_numpy(y), classes, name="digits", transform=transform)
    return ds.to(device) if device is not None else ds
