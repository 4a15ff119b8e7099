"""N same-architecture models as stacked tensors with one vmapped forward; their data stacked."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from scratchlab.errors import ConfigError, ShapeError
from scratchlab.training.loaders import TensorLoader

# Modules whose training-time behaviour draws random numbers or updates buffers.
_RANDOM = (nn.modules.dropout._DropoutNd, nn.AlphaDropout, nn.FeatureAlphaDropout)
_STATEFUL = (nn.modules.batchnorm._NormBase,)


def unsupported_reason(model: nn.Module) -> str | None:
    """Why the batched trainer cannot train `model` (None when it can)."""
    for name, module in model.named_modules():
        if isinstance(module, _STATEFUL):
            return (f"it has a {type(module).__name__} ({name}), whose running statistics are "
                    "not batched")
        if isinstance(module, _RANDOM) and getattr(module, "p", 0) > 0:
            return (f"it has a {type(module).__name__} ({name}) whose random masks would differ "
                    "from single training")
    if hasattr(model, "classify_scores"):
        return "it classifies its scores with its own rule (classify_scores)"
    if not any(p.requires_grad for p in model.parameters()):
        return "it has no trainable parameters"
    return None


def architecture(model: nn.Module) -> tuple[Any, ...]:
    """What must be equal for models to be stacked: class, layers, parameter and buffer shapes."""
    params = tuple((n, tuple(p.shape), p.dtype, p.requires_grad) for n,
                   p in model.named_parameters())
    buffers = tuple((n, tuple(b.shape), b.dtype) for n, b in model.named_buffers())
    return type(model), repr(model), params, buffers


class StackedModels:
    """N models of one architecture as stacked tensors on `device`, with a vmapped forward."""

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
        self.state_names = list(models[0].state_dict().keys())
        named = [dict(m.named_parameters()) | dict(m.named_buffers()) for m in models]
        self.trainable = [n for n, p in models[0].named_parameters() if p.requires_grad]
        self.shapes = [tuple(named[0][n].shape) for n in self.trainable]
        # Trainable parameters: one row per model, each parameter a view into it (so one optimizer
        # step updates them all); frozen parameters and buffers: one stacked tensor each.
        rows = [torch.stack([m[n].detach().reshape(-1) for m in named]) for n in self.trainable]
        self.flat = torch.cat(rows, dim=1).to(device)
        self.tensors: dict[str, Tensor] = {}
        offset = 0
        for name, shape in zip(self.trainable, self.shapes, strict=True):
            size = math.prod(shape)
            view = self.flat[:, offset: offset + size].view(self.count, *shape)
            self.tensors[name] = view.requires_grad_(True)
            offset += size
        for name in named[0]:
            if name not in self.tensors:
                self.tensors[name] = torch.stack([m[name].detach() for m in named]).to(device)
        self._vmapped = vmap(self._call, in_dims=(0, 0))

    def _call(self, tensors: dict[str, Tensor], x: Tensor) -> Tensor:
        return functional_call(self.base, tensors, (x,))

    def __call__(self, x: Tensor) -> Tensor:
        """Every model's scores `(N, B, C)` for its own inputs `(N, B, ...)`."""
        return self._vmapped(self.tensors, x)

    def trainable_tensors(self) -> list[Tensor]:
        """The trainable parameters, views `(N, *shape)` into `flat`."""
        return [self.tensors[n] for n in self.trainable]

    def flat_grad(self, grads: Sequence[Tensor]) -> Tensor:
        """Gradients of the trainable parameters laid out like `flat`."""
        return torch.cat([g.reshape(self.count, -1) for g in grads], dim=1)

    def train(self, mode: bool = True) -> None:
        self.base.train(mode)

    def state_dict(self, index: int, flat: Tensor | None = None) -> dict[str, Tensor]:
        """Model `index`'s state dict (CPU copies); its trainable values from `flat` when given."""
        values = dict(self.tensors)
        if flat is not None:
            offset = 0
            for name, shape in zip(self.trainable, self.shapes, strict=True):
                size = math.prod(shape)
                values[name] = flat[:, offset: offset + size].view(self.count, *shape)
                offset += size
        return {name: values[name][index].detach().cpu().clone() for name in self.state_names}


class TensorPool:
    """One tensor object per distinct content, so equal data is stored (and stacked) once."""

    def __init__(self) -> None:
        self._seen: dict[tuple[Any, ...], list[Tensor]] = {}

    def intern(self, tensor: Tensor) -> Tensor:
        """An earlier tensor equal to `tensor` (shape, dtype, device, values), else `tensor`."""
        flat = tensor.detach().reshape(-1)
        key = (tuple(tensor.shape), tensor.dtype, str(tensor.device),
               float(flat.double().sum()) if flat.numel() else 0.0,
               tuple(flat[:8].tolist()))
        bucket = self._seen.setdefault(key, [])
        for other in bucket:
            if other is tensor or torch.equal(other, tensor):
                return other
        bucket.append(tensor)
        return tensor


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
        pairs: dict[tuple[int, int], int] = {}
        unique: list[tuple[Tensor, Tensor]] = []
        ids = []
        for loader in loaders:
            x, y = pool.intern(loader.tensors[0]), pool.intern(loader.tensors[1])
            key = (id(x), id(y))
            if key not in pairs:
                pairs[key] = len(unique)
                unique.append((x, y))
            ids.append(pairs[key])
        self.x = _stack([u[0] for u in unique], device)
        self.y = _stack([u[1] for u in unique], device)
        self.ids = torch.tensor(ids, dtype=torch.long, device=device)
        self.size = first.dataset_size
        self.batch_size = first.batch_size
        self.shuffle = first.shuffle
        self.drop_last = first.drop_last
        self.generators = [loader.generator for loader in loaders]

    def gather(self, index: Tensor) -> tuple[Tensor, Tensor]:
        """Each model's samples at its own indices `(N, B)`: x `(N, B, ...)`, y `(N, B)`."""
        rows = self.ids[:, None]
        return self.x[rows, index], self.y[rows, index]

    def slice(self, lo: int, hi: int) -> tuple[Tensor, Tensor]:
        """Samples `lo:hi` (in order) of every model's data."""
        return self.x[self.ids, lo:hi], self.y[self.ids, lo:hi]

    def batches(self, max_batches: int | None) -> list[tuple[int, int]]:
        """The (start, stop) of each batch of an epoch, as the loader would yield them."""
        n, b = self.size, self.batch_size
        count = n // b if self.drop_last else -(-n // b)
        if max_batches is not None:
            count = min(count, max_batches)
        if count == 0:
            raise ConfigError(f"a loader of {n} samples yields no batches of {b}; check the "
                              "dataset size and batch size")
        return [(i * b, min((i + 1) * b, n)) for i in range(count)]

    def permutations(self) -> Tensor:
        """This epoch's order of every model's samples `(N, S)`, drawn as each loader would."""
        return torch.stack([torch.randperm(self.size, generator=g) for g in self.generators])


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
    mine = (loader.dataset_size, loader.batch_size, loader.shuffle, loader.drop_last,
            tuple(loader.tensors[0].shape), loader.tensors[0].dtype)
    theirs = (first.dataset_size, first.batch_size, first.shuffle, first.drop_last,
              tuple(first.tensors[0].shape), first.tensors[0].dtype)
    if mine != theirs:
        raise ShapeError(f"{what} loaders trained together must match in (size, batch size, "
                         f"shuffle, drop_last, shape, dtype): {mine} vs {theirs}")


def _stack(tensors: list[Tensor], device: torch.device) -> Tensor:
    if len(tensors) == 1:
        return tensors[0].to(device).unsqueeze(0)
    return torch.stack([t.to(device) for t in tensors])
