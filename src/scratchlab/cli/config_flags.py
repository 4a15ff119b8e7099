"""Command-line flags generated from `ExperimentConfig`, one group per section, with the classic
short flags (`-n -K -L -P -H -M ...`), `--recipe` and `--quick`."""

from __future__ import annotations

import argparse
import math
import types
import typing
from typing import Any

import yaml

from scratchlab.errors import ConfigError
from scratchlab.experiments.config import SECTIONS, ExperimentConfig
from scratchlab.experiments.recipes import recipe_config, recipe_names

SHORT_FLAGS = {
    "run_name": "-n",
    "out_dir": "-o",
    "seed": "-s",
    "device": "-d",
    "filters_per_layer": "-K",
    "layers_per_block": "-L",
    "pool_every": "-P",
    "hidden_dims": "-H",
    "model_type": "-M",
}
# A run-exp name gets the classic `_L{L}_K{K}` suffix when its model family reads K and L.
CLASSIC_NAME_FIELDS = ("layers_per_block", "filters_per_layer")


def _mapping(text: str) -> dict[str, Any]:
    try:
        value = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f"expected a mapping such as '{{kernel_size: 3}}', got {text!r}"
        )
    return value


def _number(kind: type, optional: bool):
    def parse(text: str):
        if optional and text.lower() in ("none", "null", "off"):
            return None
        try:
            value = kind(text)
        except ValueError:
            expected = f"{kind.__name__} or none" if optional else kind.__name__
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        return value

    parse.__name__ = f"{kind.__name__} or none" if optional else kind.__name__
    return parse


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return annotation, False


def _add_flag(parser: Any, name: str, field: Any) -> None:
    flags = [f"--{name.replace('_', '-')}"] + ([SHORT_FLAGS[name]] if name in SHORT_FLAGS else [])
    annotation, optional = _strip_optional(field.annotation)
    origin = typing.get_origin(annotation)
    default = field.default if field.default_factory is None else field.default_factory()
    kwargs: dict[str, Any] = {
        "default": argparse.SUPPRESS,
        "dest": name,
        "help": f"{field.description} (default: {default})".replace("%", "%%"),  # argparse
    }
    if annotation is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif origin is list:
        inner = typing.get_args(annotation)[0]
        kwargs.update(nargs="+", type=_number(int, False) if inner is int else str)
        if typing.get_origin(inner) is typing.Literal:
            kwargs.update(choices=list(typing.get_args(inner)), type=str)
    elif origin is dict:
        kwargs.update(type=_mapping, metavar="MAPPING")
    elif origin is typing.Literal:
        kwargs.update(choices=list(typing.get_args(annotation)))
    elif annotation in (int, float):
        kwargs["type"] = _number(annotation, optional)
    parser.add_argument(*flags, **kwargs)


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per config field (`--bs-train`, `--model-type/-M`, ...); unset flags keep the
    defaults. Flags are grouped by section in `--help`."""
    for name, field in ExperimentConfig.model_fields.items():
        if name not in SECTIONS:
            _add_flag(parser, name, field)
    for section, cls in SECTIONS.items():
        group = parser.add_argument_group(f"{section} ({cls.__doc__.splitlines()[0].lower()})")
        for name, field in cls.model_fields.items():
            _add_flag(group, name, field)
    parser.add_argument(
        "--recipe",
        choices=recipe_names(),
        default=None,
        help="start from a named recipe (experiments.recipes); other flags override it",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        default=False,
        help="shrink the recipe to a tiny smoke run (a few hundred images, 3 epochs, a narrow net)",
    )


def given_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields given on the command line (flat names)."""
    from scratchlab.experiments.config import SECTION_OF

    return {k: getattr(args, k) for k in SECTION_OF if hasattr(args, k)}


def config_from_args(args: argparse.Namespace, classic_name: bool = True) -> ExperimentConfig:
    """The config the flags describe; the run name follows `{name}_L{L}_K{K}` when
    `classic_name` and the model family reads K and L."""
    given = given_flags(args)
    recipe, quick = getattr(args, "recipe", None), getattr(args, "quick", False)
    if quick and not recipe:
        raise ConfigError("--quick shrinks a recipe; give --recipe NAME as well")
    config = recipe_config(recipe, quick, **given) if recipe else ExperimentConfig.create(**given)
    if classic_name and reads_classic_fields(config):
        m = config.model
        k = "-".join(str(v) for v in m.filters_per_layer)
        config = config.replace(run_name=f"{config.run_name}_L{m.layers_per_block}_K{k}")
    return config


def reads_classic_fields(config: ExperimentConfig) -> bool:
    """Whether the run's model family reads K and L (so they belong in its name)."""
    from scratchlab.experiments.config_checks import ignored_by

    return not any(ignored_by(config, name) for name in CLASSIC_NAME_FIELDS)
