"""`TensorLoader`: the batches a `DataLoader(TensorDataset(...))` gives, from in-memory tensors."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from scratchlab.errors import ConfigError, ShapeError


class ShardBatch(list):
    """One rank's rows of a global batch (a list of tensors) that knows the global batch's size."""

    def __init__(self, tensors: list[torch.Tensor], global_size: int) -> None:
        super().__init__(tensors)
        self.global_size = global_size


class TensorLoader:
    """Minibatches of equally long tensors (kept where they are), shuffled by its own generator.

    Args:
        seed: of the shuffling generator (default: drawn from torch's global RNG).
        device: move the tensors there once, up front.
        transform: applied to each batch's first tensor (e.g. GPU augmentation).
        transform_generator: `transform`'s own generator, saved and restored with the shuffling one.
    """

    def __init__(self, *tensors: torch.Tensor, batch_size: int = 128, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None,
                 device: str | torch.device | None = None,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 transform_generator: torch.Generator | None = None) -> None:
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
        self.transform_generator = transform_generator
        self.device = tensors[0].device
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self.rank, self.world_size = 0, 1

    @property
    def dataset_size(self) -> int:
        return len(self.tensors[0])

    def __len__(self) -> int:
        n = self.dataset_size / self.batch_size
        return math.floor(n) if self.drop_last else math.ceil(n)

    def __iter__(self) -> Iterator[list[torch.Tensor]]:
        # The epoch's order is drawn and copied to the device when the iterator is made, not at
        # the first batch: a trainer waits for that copy outside its launch lock
        # (Trainer.launch_lock).
        order = (torch.randperm(self.dataset_size, generator=self.generator).to(self.device)
                 if self.shuffle else None)
        return self._batches(order)

    def _batches(self, order: torch.Tensor | None) -> Iterator[list[torch.Tensor]]:
        n = self.dataset_size
        for i in range(len(self)):
            lo, hi = i * self.batch_size, min((i + 1) * self.batch_size, n)
            rows = slice(lo + self.rank, hi, self.world_size)
            index = rows if order is None else order[rows]
            batch = [t[index] for t in self.tensors]
            if self.transform is not None:
                batch[0] = self.transform(batch[0])
            yield batch if self.world_size == 1 else ShardBatch(batch, hi - lo)

    def shard(self, rank: int, world_size: int) -> TensorLoader:
        """Rows `rank, rank + W, ...` of every batch (W = `world_size`; same seed on every rank)."""
        if world_size < 1 or not 0 <= rank < world_size:
            raise ConfigError(f"rank must be in 0..{world_size - 1} for world size {world_size}, "
                              f"got {rank}")
        if self.batch_size < world_size:
            raise ConfigError(f"batch size {self.batch_size} is smaller than the {world_size} "
                              f"processes; use a global batch of at least {world_size}")
        shard = copy.copy(self)
        shard.rank, shard.world_size = rank, world_size
        return shard

    def state_dict(self) -> dict[str, Any]:
        """The shuffling (and transform) generators' states (for exact resume)."""
        state = {"generator": self.generator.get_state()}
        if self.transform_generator is not None:
            state["transform_generator"] = self.transform_generator.get_state()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        if self.transform_generator is not None and "transform_generator" in state:
            self.transform_generator.set_state(state["transform_generator"])
