"""N same-architecture models as stacked tensors with one forward for all; their data stacked."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from scratchlab.errors import ConfigError, ShapeError
from scratchlab.models.stacked import stacked_forward
from scratchlab.training.loaders import TensorLoader
from scratchlab.util.tensors import TensorPool, unflatten


def unsupported_reason(model: nn.Module) -> str | None:
    """Why the batched trainer cannot train `model` (None when it can)."""
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._NormBase):
            return (f"it has a {type(module).__name__} ({name}), whose running statistics are "
                    "not batched")
        if isinstance(module, nn.modules.dropout._DropoutNd) and module.p > 0:
            return (f"it has a {type(module).__name__} ({name}) whose random masks would differ "
                    "from single training")
    if hasattr(model, "classify_scores"):
        return "it classifies its scores with its own rule (classify_scores)"
    if not any(p.requires_grad for p in model.parameters()):
        return "it has no trainable parameters"
    return None


def architecture(model: nn.Module) -> tuple[Any, ...]:
    """What must be equal for models to be stacked: class, layers, parameter and buffer shapes."""
    params = tuple((n, tuple(p.shape), p.dtype, p.requires_grad)
                   for n, p in model.named_parameters())
    buffers = tuple((n, tuple(b.shape), b.dtype) for n, b in model.named_buffers())
    return type(model), repr(model), params, buffers


class StackedModels:
    """N models of one architecture as stacked tensors on `device`, with one forward for all:
    the model's own `forward_stacked` where it has one (`models.stacked.stacked_forward`: the
    models side by side in the channels), else `forward` vmapped over the models."""

    def __init__(self, models: Sequence[nn.Module], device: torch.device) -> None:
        if not models:
            raise ConfigError("the batched trainer needs at least one model")
        reason = unsupported_reason(models[0])
        if reason:
            raise ConfigError(f"the batched trainer cannot train {type(models[0]).__name__}: "
                              f"{reason}; train it alone")
        first = architecture(models[0])
        for i, model in enumerate(models[1:], start=1):
            if architecture(model) != first:
                raise ConfigError(f"model {i} differs in architecture from model 0; models trained "
                                  "together must be identical but for their weights")
        self.count = len(models)
        self.base = copy.deepcopy(models[0]).to(device)
        self.state_names = list(models[0].state_dict())
        named = [dict(m.named_parameters()) | dict(m.named_buffers()) for m in models]
        self.trainable = [n for n, p in models[0].named_parameters() if p.requires_grad]
        self.shapes = [tuple(named[0][n].shape) for n in self.trainable]
        # Trainable parameters: one row per model, each parameter a view into it (so one optimizer
        # step updates them all); frozen parameters and buffers: one stacked tensor each.
        rows = [torch.stack([m[n].detach().reshape(-1) for m in named]) for n in self.trainable]
        self.flat = torch.cat(rows, dim=1).to(device)
        self.trainable_tensors = [view.requires_grad_(True)
                                  for view in unflatten(self.flat, self.shapes)]
        self.tensors = dict(zip(self.trainable, self.trainable_tensors, strict=True))
        self.tensors |= {n: torch.stack([m[n].detach() for m in named]).to(device)
                         for n in named[0] if n not in self.tensors}
        self._forward = (stacked_forward(self.base)
                         or vmap(partial(functional_call, self.base)))

    def __call__(self, x: Tensor) -> Tensor:
        """Every model's scores `(N, B, C)` for its own inputs `(N, B, ...)`."""
        return self._forward(self.tensors, x)

    def flat_grad(self, grads: Sequence[Tensor]) -> Tensor:
        """Gradients of the trainable parameters laid out like `flat`."""
        return torch.cat([g.reshape(self.count, -1) for g in grads], dim=1)

    def state_dict(self, index: int, flat: Tensor | None = None) -> dict[str, Tensor]:
        """Model `index`'s state dict (CPU copies); its trainable values from `flat` when given."""
        values = dict(self.tensors)
        if flat is not None:
            values.update(zip(self.trainable, unflatten(flat, self.shapes), strict=True))
        return {name: values[name][index].detach().cpu().clone() for name in self.state_names}


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
