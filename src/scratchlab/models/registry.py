"""`build_model(spec)`: one mapping of options -> a model of the family named by `model_type`.

A family is registered with `register_model(name)` on a class or a builder function; the
parameters of its signature are the spec keys it reads. A spec may also carry keys that only
other families read (so one uniform spec can serve every family): those are ignored. A key that
no registered family reads is a ConfigError. `num_classes`/`out_classes` and
`in_features`/`in_size` are accepted for one another.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from torch import nn

from scratchlab.errors import ConfigError, ScratchlabError
from scratchlab.models.cnn import CNN
from scratchlab.models.edge_init import freeze_conv_layer, init_conv_kernel_with_edge_detector
from scratchlab.models.fastcnn import FastCNN
from scratchlab.models.inductive import (
    DeeperCNN,
    SimpleCNN,
    SimpleCNN_avgpool,
    ThreeLayerMLP,
    TwoLayerMLP,
    WiderCNN,
)
from scratchlab.models.layers import positive_ints
from scratchlab.models.mlp import MLP
from scratchlab.models.resnet import ResNet
from scratchlab.models.yourcnn import YourCNN

B = TypeVar("B", bound=Callable[..., nn.Module])
_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _features(in_size: Any) -> int:
    return math.prod(positive_ints("in_size", in_size, allow_empty=False))


def _channels(in_size: Any) -> int:
    sizes = positive_ints("in_size", in_size, allow_empty=False)
    if len(sizes) != 3:
        raise ConfigError(f"in_size: expected (channels, height, width), got {in_size!r}")
    return sizes[0]


# (key given, key the family takes, conversion of the value)
_ALIASES: list[tuple[str, str, Callable[[Any], Any]]] = [
    ("num_classes", "out_classes", lambda n: n),
    ("out_classes", "num_classes", lambda n: n),
    ("in_features", "in_size", lambda n: (n,)),
    ("in_size", "in_features", _features),
]


def register_model(name: str) -> Callable[[B], B]:
    """Decorator registering a model class or builder function under `name` for `build_model`."""

    def decorator(builder: B) -> B:
        if name in _REGISTRY:
            raise ConfigError(f"model_type {name!r} is already registered; pick another name")
        _REGISTRY[name] = builder
        return builder

    return decorator


def model_names() -> list[str]:
    """The registered `model_type` names, sorted."""
    return sorted(_REGISTRY)


def registered_builder(name: str) -> Callable[..., nn.Module] | None:
    """The class or function registered as model family `name` (None when there is none)."""
    return _REGISTRY.get(name)


def _parameters(builder: Callable[..., nn.Module]) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(builder).parameters)


def known_keys() -> set[str]:
    """Every spec key some registered family reads (plus `model_type` and the aliases)."""
    keys = {"model_type"} | {alias for pair in _ALIASES for alias in pair[:2]}
    for builder in _REGISTRY.values():
        keys |= {n for n, p in _parameters(builder).items() if p.kind in _NAMED}
    return keys


def _resolve_aliases(spec: dict[str, Any], params: Mapping[str, inspect.Parameter]) -> None:
    if (
        "num_classes" in spec
        and "out_classes" in spec
        and spec["num_classes"] != spec["out_classes"]
    ):
        raise ConfigError(
            f"num_classes={spec['num_classes']!r} and out_classes={spec['out_classes']!r} "
            f"disagree; give only one"
        )
    for given, taken, convert in _ALIASES:
        if given in spec and given not in params and taken in params and taken not in spec:
            spec[taken] = convert(spec[given])


def build_model(spec: Mapping[str, Any]) -> nn.Module:
    """The model `spec["model_type"]` built from the other keys of `spec` (see module docstring)."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"a model spec is a mapping with a model_type, got {spec!r}")
    spec = dict(spec)
    name = spec.pop("model_type", None)
    if name not in _REGISTRY:
        raise ConfigError(f"model_type: unknown model {name!r}; choose one of {model_names()}")
    builder = _REGISTRY[name]
    params = _parameters(builder)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    unknown = sorted(set(spec) - known_keys())
    if unknown and not takes_any:
        raise ConfigError(
            f"unknown model option(s) {unknown}; known options: {sorted(known_keys())}"
        )
    _resolve_aliases(spec, params)
    kwargs = spec if takes_any else {k: v for k, v in spec.items() if k in params}
    missing = [
        n
        for n, p in params.items()
        if p.kind in _NAMED and p.default is p.empty and n not in kwargs
    ]
    if missing:
        raise ConfigError(
            f"model_type {name!r} needs the option(s) {missing}; add them to the spec"
        )
    try:
        return builder(**kwargs)
    except ScratchlabError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model_type {name!r}: bad option ({exc}); fix the spec") from None


register_model("cnn")(CNN)
register_model("resnet")(ResNet)
register_model("yourcnn")(YourCNN)
register_model("yourcnn_fast")(FastCNN)


@register_model("mlp")
def _mlp(
    in_size: Sequence[int],
    out_classes: int,
    hidden_dims: Sequence[int] = (),
    activation_type: str = "relu",
    activation_params: Mapping[str, Any] | None = None,
    dropout: float = 0.0,
    batchnorm: bool = False,
) -> MLP:
    return MLP.build(
        _features(in_size),
        hidden_dims,
        out_classes,
        activation=activation_type,
        activation_params=activation_params,
        dropout=dropout,
        batchnorm=batchnorm,
    )


# The inductive-bias notebook's nets (see scratchlab.models.inductive). `padding` None is the
# notebook's reflect padding of (k - 1) // 2 per side; "same" keeps the map size.
@register_model("simplecnn")
def _simplecnn(
    in_size: Sequence[int] = (1, 28, 28),
    out_classes: int = 3,
    num_filters: int = 3,
    kernel_size: int = 7,
    pooling_type: str = "max",
    padding: int | str | None = None,
) -> SimpleCNN:
    return SimpleCNN(
        num_filters, kernel_size, out_classes, pooling_type, _channels(in_size), padding=padding
    )


@register_model("cnn_avgpool")
def _cnn_avgpool(
    in_size: Sequence[int] = (1, 28, 28),
    out_classes: int = 3,
    num_filters: int = 3,
    kernel_size: int = 7,
    padding: int | str | None = None,
) -> SimpleCNN:
    return SimpleCNN_avgpool(num_filters, kernel_size, out_classes, _channels(in_size), padding)


@register_model("cnn_edge_init")
def _cnn_edge_init(
    in_size: Sequence[int] = (1, 28, 28),
    out_classes: int = 3,
    num_filters: int = 3,
    kernel_size: int = 7,
    pooling_type: str = "max",
    padding: int | str | None = None,
) -> SimpleCNN:
    """The notebook's set-up: edge detectors in conv1 and conv2, every convolution frozen."""
    model = SimpleCNN(
        num_filters, kernel_size, out_classes, pooling_type, _channels(in_size), padding=padding
    )
    return freeze_conv_layer(init_conv_kernel_with_edge_detector(model))


@register_model("wider_cnn")
def _wider_cnn(
    in_size: Sequence[int] = (1, 28, 28),
    out_classes: int = 5,
    num_filters: int = 6,
    kernel_size: int = 7,
    pooling_type: str = "max",
    padding: int | str | None = None,
) -> WiderCNN:
    return WiderCNN(
        _channels(in_size), num_filters, kernel_size, out_classes, pooling_type, padding
    )


@register_model("deeper_cnn")
def _deeper_cnn(
    in_size: Sequence[int] = (1, 28, 28),
    out_classes: int = 5,
    num_filters: int = 3,
    kernel_size: int = 7,
    pooling_type: str = "max",
    num_convs: int = 4,
    padding: int | str | None = None,
) -> DeeperCNN:
    return DeeperCNN(
        _channels(in_size), num_filters, kernel_size, out_classes, pooling_type, padding, num_convs
    )


@register_model("two_layer_mlp")
def _two_layer_mlp(
    in_size: Sequence[int] = (1, 28, 28), out_classes: int = 3, hidden: int = 10
) -> TwoLayerMLP:
    return TwoLayerMLP(_features(in_size), hidden, out_classes)


@register_model("three_layer_mlp")
def _three_layer_mlp(
    in_size: Sequence[int] = (1, 28, 28),
    out_classes: int = 3,
    hidden: Sequence[int] = (50, 10),
    init_seed: int | None = None,
) -> ThreeLayerMLP:
    return ThreeLayerMLP(_features(in_size), hidden, out_classes, seed=init_seed)
