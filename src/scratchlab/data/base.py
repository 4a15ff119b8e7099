"""`LabeledTensorDataset`: a classification split held as two tensors, images and labels; and
`balanced_subset`, a seeded class-balanced subset of such tensors."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils.data import TensorDataset

from scratchlab.util import resolve_device


class LabeledTensorDataset(TensorDataset):
    """A `TensorDataset` with `.tensors == (x, y)`, class names and an optional item transform.

    `x` is float32 (in [0, 1] or standardised) or uint8; `y` is int64. The whole split can be
    used at once (`ds.x`, `ds.y`, e.g. after `ds.to("cuda")`) or item by item through a
    DataLoader, in which case `transform` is applied to each `x`.

    Args:
        x: Inputs, one row per example.
        y: Integer labels, one per example.
        classes: Class names, index = label.
        name: Dataset name (e.g. ``"cifar10"``).
        transform: Callable applied to `x[i]` in `__getitem__`.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        classes: Sequence[str],
        name: str = "",
        transform: Callable[[torch.Tensor], Any] | None = None,
    ) -> None:
        y = torch.as_tensor(y).long()
        super().__init__(x, y)
        self.classes = [str(c) for c in classes]
        self.name = name
        self.transform = transform

    @property
    def x(self) -> torch.Tensor:
        """All inputs."""
        return self.tensors[0]

    @property
    def y(self) -> torch.Tensor:
        """All labels (int64)."""
        return self.tensors[1]

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, `x.shape[1:]`."""
        return tuple(self.tensors[0].shape[1:])

    @property
    def device(self) -> torch.device:
        """Device of the tensors."""
        return self.tensors[0].device

    def __getitem__(self, index):
        x, y = self.tensors[0][index], self.tensors[1][index]
        if self.transform is not None:
            x = self.transform(x)
        return x, y

    def to(self, device: str | torch.device) -> LabeledTensorDataset:
        """A copy whose tensors live on `device` (``"auto"``, ``"cpu"``, ``"cuda"``...)."""
        device = resolve_device(device)
        out = copy.copy(self)
        out.tensors = tuple(t.to(device) for t in self.tensors)
        return out

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, n={len(self)}, "
            f"input_shape={self.input_shape}, dtype={self.x.dtype}, "
            f"num_classes={self.num_classes}, device={self.device})"
        )


def class_counts(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Number of examples of each class."""
    return torch.bincount(y.long().cpu(), minlength=num_classes)


def balanced_subset(
        x: torch.Tensor, y: torch.Tensor, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` samples with classes as equal as possible, drawn with `seed`, in a shuffled order."""
    if n >= len(y):
        return x, y
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(y), generator=generator)
    y_cpu = y.cpu()[order]
    rank = torch.zeros_like(y_cpu)
    for label in y_cpu.unique():
        where = y_cpu == label
        rank[where] = torch.arange(int(where.sum()))
    # Round-robin over classes: all first samples of each class, then all second ones, ...
    keep = order[torch.argsort(rank * (int(y_cpu.max()) + 1) + y_cpu, stable=True)[:n]]
    keep = keep.to(y.device)
    return x[keep], y[keep]
