"""Command-line flags generated from `ExperimentConfig`, with the classic short flags, `--recipe` and `--quick`."""

from __future__ import annotations

import argparse
import types
import typing
from typing import Any

import yaml

from scratchlab.errors import ConfigError
from scratchlab.experiments.config import ExperimentConfig
from scratchlab.experiments.recipes import recipe_config, recipe_names

SHORT_FLAGS = {
    "run_name": "-n", "out_dir": "-o", "seed": "-s", "device": "-d", "filters_per_layer": "-K",
    "layers_per_block": "-L", "pool_every": "-P", "hidden_dims": "-H", "model_type": "-M",
}


def _mapping(text: str) -> dict[str, Any]:
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a mapping such as '{{kernel_size: 3}}', got {text!r}")
    return value


def _optional(kind: type):
    def parse(text: str):
        if text.lower() in ("none", "null", "off"):
            return None
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__} or none, got {text!r}") from None
    parse.__name__ = f"{kind.__name__} or none"
    return parse


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return annotation, False


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per config field (`--bs-train`, `--model-type/-M`, ...); unset flags keep defaults."""
    for name, field in ExperimentConfig.model_fields.items():
        flags = [f"--{name.replace('_', '-')}"] + ([SHORT_FLAGS[name]] if name in SHORT_FLAGS else [])
        annotation, optional = _strip_optional(field.annotation)
        origin = typing.get_origin(annotation)
        default = field.default if field.default_factory is None else field.default_factory()
        help_text = f"{field.description} (default: {default})"
        kwargs: dict[str, Any] = {"default": argparse.SUPPRESS, "help": help_text, "dest": name}
        if annotation is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif origin is list:
            inner = typing.get_args(annotation)[0]
            kwargs.update(nargs="+", type=int if inner is int else str)
        elif origin is dict:
            kwargs.update(type=_mapping, metavar="MAPPING")
        elif origin is typing.Literal:
            kwargs.update(choices=list(typing.get_args(annotation)))
        elif annotation in (int, float):
            kwargs["type"] = _optional(annotation) if optional else annotation
        parser.add_argument(*flags, **kwargs)
    parser.add_argument("--recipe", choices=recipe_names(), default=None,
                        help="start from a named recipe (scratchlab.experiments.recipes); other flags override it")
    parser.add_argument("--quick", action="store_true", default=False,
                        help="shrink the recipe to a tiny smoke run (a few hundred images, 3 epochs, a narrow net)")


def config_from_args(args: argparse.Namespace, classic_name: bool = True) -> ExperimentConfig:
    """The config the flags describe; the run name follows `{name}_L{L}_K{K}` when `classic_name`."""
    given = {k: getattr(args, k) for k in ExperimentConfig.model_fields if hasattr(args, k)}
    recipe, quick = getattr(args, "recipe", None), getattr(args, "quick", False)
    if quick and not recipe:
        raise ConfigError("--quick shrinks a recipe; give --recipe NAME as well")
    config = recipe_config(recipe, quick, **given) if recipe else ExperimentConfig.create(**given)
    if classic_name:
        k = "-".join(str(v) for v in config.filters_per_layer)
        try:
            config.run_name = f"{config.run_name}_L{config.layers_per_block}_K{k}"
        except ValueError as exc:
            raise ConfigError(f"invalid run name: {exc}") from None
    return config
