"""Dataset registry: `get_dataset(name, split, root=None, **options)` and the decorator that fills
it.

A dataset is registered with `@register_dataset("name", splits=(...))` on a builder: a function
or class called as `builder(split, root=None, **options)` (`root` may be left out by builders
that generate their data). The built-in dataset modules register
on import; they are imported lazily, the first time their name is asked for.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scratchlab.errors import ConfigError

if TYPE_CHECKING:
    from torch.utils.data import Dataset

    from scratchlab.data.base import LabeledTensorDataset

# Built-in datasets and the module that registers each; imported on first use.
BUILTIN_MODULES: dict[str, str] = {
    "cifar10": "scratchlab.data.cifar10",
    "digits": "scratchlab.data.digits",
    "populations": "scratchlab.data.populations",
    "edges": "scratchlab.data.edges",
    "shapes": "scratchlab.data.shapes",
}


@dataclass(frozen=True)
class DatasetEntry:
    """One registered dataset: its builder, splits, split aliases and accepted options."""

    name: str
    builder: Callable[..., Any]
    splits: tuple[str, ...]
    aliases: Mapping[str, str] = field(default_factory=dict)
    task: str = "classification"

    @property
    def all_splits(self) -> tuple[str, ...]:
        """Canonical splits followed by their aliases."""
        return self.splits + tuple(a for a in self.aliases if a not in self.splits)

    def takes_root(self) -> bool:
        """True when the builder accepts `root` (generated datasets may not)."""
        params = inspect.signature(self.builder).parameters
        return "root" in params or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
        )

    def options(self) -> tuple[str, ...] | None:
        """Names of the keyword options the builder accepts; None when it takes `**kwargs`."""
        params = inspect.signature(self.builder).parameters.values()
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return None
        return tuple(
            p.name
            for p in params
            if p.name not in ("split", "root", "self")
            and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        )


_REGISTRY: dict[str, DatasetEntry] = {}


def register_dataset(
    name: str,
    splits: Iterable[str] = ("train", "test"),
    aliases: Mapping[str, str] | None = None,
    task: str = "classification",
) -> Callable:
    """Register `builder(split, root=None, **options)` under `name` with its `splits`.

    `aliases` maps extra split names onto canonical ones (e.g. ``{"test": "valid"}``); the builder
    only ever sees canonical names. `task`: ``classification`` (tensors and labels, what
    run-exp trains on) or another task such as ``detection``. Re-registering a name replaces the
    earlier entry.
    """
    splits = tuple(splits)
    aliases = dict(aliases or {})
    for alias, target in aliases.items():
        if target not in splits:
            raise ConfigError(
                f"dataset {name!r}: alias {alias!r} points to unknown split {target!r}"
            )

    def decorator(builder: Callable) -> Callable:
        _REGISTRY[name] = DatasetEntry(name, builder, splits, aliases, task)
        return builder

    return decorator


def _load_builtin(name: str) -> None:
    """Import the module of a built-in dataset so that it registers itself."""
    module = BUILTIN_MODULES.get(name)
    if module is not None and name not in _REGISTRY:
        importlib.import_module(module)


def dataset_names() -> list[str]:
    """Sorted names of every known dataset (built-in and registered)."""
    return sorted(set(BUILTIN_MODULES) | set(_REGISTRY))


def _entry(name: str) -> DatasetEntry:
    _load_builtin(name)
    if name not in _REGISTRY:
        raise ConfigError(f"unknown dataset {name!r}; known datasets: {', '.join(dataset_names())}")
    return _REGISTRY[name]


def dataset_splits(name: str) -> tuple[str, ...]:
    """The splits (and split aliases) that dataset `name` accepts."""
    return _entry(name).all_splits


def dataset_task(name: str) -> str:
    """What dataset `name` is for: ``classification``, ``detection``, ..."""
    return _entry(name).task


def dataset_options(name: str) -> tuple[str, ...] | None:
    """The keyword options dataset `name` accepts (None: any)."""
    return _entry(name).options()


def get_dataset(
    name: str, split: str = "train", root: Any = None, **options: Any
) -> LabeledTensorDataset | Dataset:
    """Build split `split` of dataset `name`, with its data looked for under `root`.

    Raises:
        ConfigError: unknown dataset, unknown split or unknown option (the message lists the
            accepted values).
    """
    entry = _entry(name)
    if split not in entry.all_splits:
        raise ConfigError(
            f"dataset {name!r} has no split {split!r}; use one of: {', '.join(entry.all_splits)}"
        )
    accepted = entry.options()
    if accepted is not None:
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ConfigError(
                f"dataset {name!r} does not accept option(s) {', '.join(map(repr, unknown))}; "
                f"accepted options: {', '.join(accepted) or '(none)'}"
            )
    if entry.takes_root():
        options["root"] = root
    return entry.builder(entry.aliases.get(split, split), **options)
