"""Activation and pooling layers by name, and the argument checks the model families share."""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from scratchlab.errors import ConfigError

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "lrelu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "softmax": nn.Softmax,
    "logsoftmax": nn.LogSoftmax,
    "none": nn.Identity,
    "identity": nn.Identity,
}
# Keyword arguments an activation gets unless given (the course's ACTIVATION_DEFAULT_KWARGS).
ACTIVATION_DEFAULTS: dict[str, dict[str, Any]] = {"softmax": {"dim": 1}, "logsoftmax": {"dim": 1}}
POOLINGS: dict[str, type[nn.Module]] = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}

ActivationSpec = str | nn.Module | type[nn.Module] | None


def check_kwargs(owner: str, cls: type, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return `params` as a dict, or raise ConfigError naming a key that `cls` does not take."""
    params = dict(params or {})
    signature = inspect.signature(cls)
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return params
    allowed = set(signature.parameters)
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ConfigError(
            f"{owner}: {cls.__name__} takes no argument {unknown}; allowed: {sorted(allowed)}"
        )
    return params


def make_activation(spec: ActivationSpec, params: Mapping[str, Any] | None = None) -> nn.Module:
    """An activation module from a name (see `ACTIVATIONS`), a module class, a module or None.

    None is the identity; softmax and logsoftmax act over dim 1 unless `params` say otherwise.
    """
    if spec is None:
        spec = "none"
    if isinstance(spec, nn.Module):
        if params:
            raise ConfigError("activation_params: give them only with an activation name or class")
        return spec
    if isinstance(spec, type) and issubclass(spec, nn.Module):
        return spec(**check_kwargs("activation_params", spec, params))
    if not isinstance(spec, str) or spec.lower() not in ACTIVATIONS:
        raise ConfigError(
            f"activation_type: unknown activation {spec!r}; choose one of {sorted(ACTIVATIONS)}"
        )
    cls = ACTIVATIONS[spec.lower()]
    defaults = ACTIVATION_DEFAULTS.get(spec.lower(), {})
    return cls(**{**defaults, **check_kwargs("activation_params", cls, params)})


def make_pool(pooling_type: str, params: Mapping[str, Any] | None = None) -> nn.Module:
    """A 2-D pooling module: `max` or `avg`, with its keyword arguments (kernel_size 2 by
    default)."""
    if not isinstance(pooling_type, str) or pooling_type.lower() not in POOLINGS:
        raise ConfigError(
            f"pooling_type: unknown pooling {pooling_type!r}; choose one of {sorted(POOLINGS)}"
        )
    cls = POOLINGS[pooling_type.lower()]
    params = {"kernel_size": 2, **check_kwargs("pooling_params", cls, params)}
    return cls(**params)


def positive_int(name: str, value: Any) -> int:
    """`value` as an int >= 1, or a ConfigError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name}: expected a positive integer, got {value!r}")
    return value


def positive_ints(name: str, values: Any, allow_empty: bool = True) -> list[int]:
    """`values` as a list of ints >= 1, or a ConfigError naming `name`."""
    if isinstance(values, int) and not isinstance(values, bool):
        values = [values]
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise ConfigError(f"{name}: expected a list of positive integers, got {values!r}")
    if not values and not allow_empty:
        raise ConfigError(f"{name}: give at least one value")
    return [positive_int(f"{name}[{i}]", v) for i, v in enumerate(values)]


def check_in_size(in_size: Any) -> tuple[int, int, int]:
    """`in_size` as (C, H, W), or a ConfigError."""
    if not isinstance(in_size, Sequence) or len(in_size) != 3:
        raise ConfigError(f"in_size: expected (channels, height, width), got {in_size!r}")
    c, h, w = positive_ints("in_size", in_size)
    return c, h, w


def check_dropout(value: Any) -> float:
    """`value` as a probability in [0, 1), or a ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ConfigError(f"dropout: expected a probability in [0, 1), got {value!r}")
    return float(value)


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every module of `model` in eval mode and no-grad; restore each one's mode after."""
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        for module, training in modes.items():
            module.training = training


def dry_run(layers: nn.Sequential, in_size: Sequence[int]) -> torch.Size:
    """Output shape (without batch) of `layers` on one zero input; ConfigError where a layer
    fails."""
    x = torch.zeros(1, *in_size)
    with eval_mode(layers):
        for i, layer in enumerate(layers):
            shape = tuple(x.shape[1:])
            try:
                x = layer(x)
            except RuntimeError as exc:
                reason = str(exc).strip().splitlines()[0]
                raise ConfigError(
                    f"feature_extractor[{i}] ({layer}) cannot take a map of shape {shape} "
                    f"({reason}); use a larger input, fewer pools or smaller kernels/strides"
                ) from None
            if x.numel() == 0:
                raise ConfigError(
                    f"feature_extractor[{i}] ({layer}) shrinks the map to shape "
                    f"{tuple(x.shape[1:])}; use a larger input, fewer pools or smaller strides"
                )
    return x.shape[1:]
