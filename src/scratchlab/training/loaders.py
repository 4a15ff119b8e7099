"""Batches from tensors that are already in memory, or already on the GPU.

`TensorLoader` yields what `DataLoader(TensorDataset(...))` would (a list of tensors per batch)
without per-item Python work: one `randperm` per epoch and one gather per tensor per batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from scratchlab.errors import ConfigError, ShapeError


class TensorLoader:
    """Minibatches of equally long tensors, shuffled with its own seeded generator.

    Args:
        *tensors: tensors with the same first dimension, e.g. `(x, y)`; kept where they are.
        batch_size: items per batch.
        shuffle: draw a new permutation every epoch.
        drop_last: drop the last incomplete batch.
        seed: seed of the shuffling generator (default: drawn from torch's global RNG).
        device: move the tensors there once, up front (default: leave them).
        transform: optional function applied to each batch's first tensor (e.g. GPU augmentation).
    """

    def __init__(
        self,
        *tensors: torch.Tensor,
        batch_size: int = 128,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
        device: str | torch.device | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if not tensors:
            raise ConfigError("TensorLoader needs at least one tensor")
        if batch_size < 1:
            raise ConfigError(f"TensorLoader batch_size must be >= 1, got {batch_size}")
        lengths = {len(t) for t in tensors}
        if len(lengths) != 1:
            shapes = [tuple(t.shape) for t in tensors]
            raise ShapeError(f"TensorLoader tensors differ in length: {shapes}")
        if device is not None:
            tensors = tuple(t.to(device) for t in tensors)
        self.tensors: Sequence[torch.Tensor] = tensors
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.transform = transform
        self.device = tensors[0].device
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        self.generator = torch.Generator(device="cpu").manual_seed(seed)

    @property
    def dataset_size(self) -> int:
        return len(self.tensors[0])

    def __len__(self) -> int:
        n = self.dataset_size / self.batch_size
        return math.floor(n) if self.drop_last else math.ceil(n)

    def __iter__(self) -> Iterator[list[torch.Tensor]]:
        n = self.dataset_size
        order = torch.randperm(n, generator=self.generator).to(self.device) if self.shuffle else None
        for i in range(len(self)):
            lo, hi = i * self.batch_size, min((i + 1) * self.batch_size, n)
            if order is None:
                batch = [t[lo:hi] for t in self.tensors]
            else:
                index = order[lo:hi]
                batch = [t[index] for t in self.tensors]
            if self.transform is not None:
                batch[0] = self.transform(batch[0])
            yield batch

    def state_dict(self) -> dict[str, Any]:
        """The shuffling generator's state (for exact resume)."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
