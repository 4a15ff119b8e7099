"""The data of N models trained at once, stacked, with one copy per distinct dataset."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from scratchlab.errors import ConfigError, ShapeError
from scratchlab.training.loaders import TensorLoader
from scratchlab.util.tensors import TensorPool


class StackedData:
    """The (x, y) tensors of N loaders, stacked `(U, S, ...)` with one copy per distinct dataset.

    Args:
        loaders: one `TensorLoader` per model; all of the same size, batch size and sample shape.
    """

    def __init__(self, loaders: Sequence[TensorLoader], device: torch.device, what: str) -> None:
        first = loaders[0]
        for loader in loaders:
            _check_loader(loader, first, what)
        if first.shuffle and len({id(loader.generator) for loader in loaders}) < len(loaders):
            raise ConfigError(f"give each model its own {what} loader: a shared shuffling "
                              "generator would deal one order to several models")
        pool = TensorPool()
        pairs = [(pool.intern(loader.tensors[0]), pool.intern(loader.tensors[1]))
                 for loader in loaders]
        slots: dict[tuple[int, int], int] = {}  # (id(x), id(y)) -> index among the distinct pairs
        ids = [slots.setdefault((id(x), id(y)), len(slots)) for x, y in pairs]
        unique = [pairs[ids.index(slot)] for slot in range(len(slots))]
        self.x = _stack([x for x, _ in unique], device)
        self.y = _stack([y for _, y in unique], device)
        self.ids = torch.tensor(ids, dtype=torch.long, device=device)
        self.size, self.batch_size = first.dataset_size, first.batch_size
        self.shuffle, self.num_batches = first.shuffle, len(first)
        self.generators = [loader.generator for loader in loaders]

    def gather(self, index: Tensor) -> tuple[Tensor, Tensor]:
        """Each model's samples at its own indices, given sample-major `(B, N)`: x `(N, B, ...)`
        and y `(N, B)`, views of sample-major tensors (a stacked forward, `models.stacked`, wants
        the samples first and then needs no copy of its own)."""
        rows = self.ids[None, :]
        return self.x[rows, index].transpose(0, 1), self.y[rows, index].transpose(0, 1)

    def slice(self, lo: int, hi: int) -> tuple[Tensor, Tensor]:
        """Samples `lo:hi` (in order) of every model's data (x laid out as `gather` gives it)."""
        return (self.x[:, lo:hi].transpose(0, 1)[:, self.ids].transpose(0, 1),
                self.y[self.ids, lo:hi])

    def batches(self, max_batches: int | None) -> list[tuple[int, int]]:
        """The (start, stop) of each batch of an epoch, as the loader would yield them."""
        n, b = self.size, self.batch_size
        count = self.num_batches if max_batches is None else min(self.num_batches, max_batches)
        if count == 0:
            raise ConfigError(f"a loader of {n} samples yields no batches of {b}; check the "
                              "dataset size and batch size")
        return [(i * b, min((i + 1) * b, n)) for i in range(count)]

    def permutations(self) -> Tensor:
        """This epoch's order of every model's samples, sample-major `(S, N)`, drawn as each
        loader would."""
        return torch.stack([torch.randperm(self.size, generator=g) for g in self.generators], 1)


def _check_loader(loader: Any, first: TensorLoader, what: str) -> None:
    if not isinstance(loader, TensorLoader):
        raise ConfigError(f"the batched trainer reads TensorLoaders, got a {type(loader).__name__} "
                          f"for {what}")
    if loader.transform is not None:
        raise ConfigError(f"the batched trainer cannot apply a {what} loader's transform "
                          "(augmentation); train such runs alone")
    if len(loader.tensors) != 2:
        raise ConfigError(f"the batched trainer needs {what} loaders of (x, y), got "
                          f"{len(loader.tensors)} tensors")
    if getattr(loader, "world_size", 1) != 1:
        raise ConfigError("the batched trainer does not take sharded loaders")
    mine, theirs = ((d.dataset_size, d.batch_size, d.shuffle, d.drop_last,
                     tuple(d.tensors[0].shape), d.tensors[0].dtype) for d in (loader, first))
    if mine != theirs:
        raise ShapeError(f"{what} loaders trained together must match in (size, batch size, "
                         f"shuffle, drop_last, shape, dtype): {mine} vs {theirs}")


def _stack(tensors: list[Tensor], device: torch.device) -> Tensor:
    if len(tensors) == 1:
        return tensors[0].to(device).unsqueeze(0)
    return torch.stack([t.to(device) for t in tensors])
