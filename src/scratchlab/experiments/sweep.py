"""Sweeps: a YAML file of shared fields, a grid of varied fields and seeds -> many runs."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from scratchlab.errors import ConfigError
from scratchlab.experiments.config import (
    SECTION_OF,
    ExperimentConfig,
    describe_validation_error,
    not_empty_folder,
)
from scratchlab.util import atomic_write_json
from scratchlab.util.yaml_files import read_yaml

SHORT_NAMES = {"layers_per_block": "L", "filters_per_layer": "K", "pool_every": "P",
               "hidden_dims": "H", "model_type": "M"}
MAX_RUNS = 10_000  # runs one sweep file may describe (grid points x seeds)
NAMED_BY_KEYS = ("run_name", "seed", "out_dir")  # set by the name, seeds and out_dir keys


class SweepSpec(BaseModel):
    """A sweep file's content."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=100,
                      pattern=r"^[A-Za-z0-9_+=-][A-Za-z0-9_.+=-]*$")
    base: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    seeds: int = Field(1, ge=1, le=MAX_RUNS, strict=True)
    out_dir: Path | None = None

    _not_empty = field_validator("out_dir", mode="before")(staticmethod(not_empty_folder))

    @field_validator("grid")
    @classmethod
    def _non_empty_lists(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in grid.items():
            if not values:
                raise ValueError(f"grid field {key!r} has no values")
        return grid


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep YAML file; every problem is a one-line ConfigError."""
    data = read_yaml(path, "sweep file")
    if not isinstance(data, dict):
        raise ConfigError(f"sweep file {path} must be a mapping with name, base, grid, seeds, "
                          "out_dir")
    try:
        return SweepSpec(**data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, f"sweep file {path}",
                                                    list(SweepSpec.model_fields))) from None


def format_value(value: Any) -> str:
    """A value as it appears in a run name: lists joined by '-', floats compactly."""
    if isinstance(value, (list, tuple)):
        return "-".join(format_value(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return "-".join(f"{k}{format_value(v)}" for k, v in sorted(value.items()))
    return str(value)


def run_name(prefix: str, config: ExperimentConfig, varied: list[str], seed_suffix: bool) -> str:
    """`prefix`, `L{L}_K{K}` if either varies, `{field}{value}` per other varied field, seed."""
    parts = [prefix]
    m, flat = config.model, config.flat()
    if "layers_per_block" in varied or "filters_per_layer" in varied:
        parts.append(f"L{m.layers_per_block}_K{format_value(m.filters_per_layer)}")
    parts += [f"{SHORT_NAMES.get(key, key)}{format_value(flat[key])}" for key in varied
              if key not in ("layers_per_block", "filters_per_layer")]
    if seed_suffix:
        parts.append(f"s{config.seed}")
    return "_".join(parts)


def expand(spec: SweepSpec, out_dir: str | Path | None = None) -> list[ExperimentConfig]:
    """Every run of a sweep: the full cross product of the grid, times the seeds.

    Every problem of every run is named in one `ConfigError` (the first few of each kind).
    """
    problems = _spec_problems(spec)
    count = math.prod(len(values) for values in spec.grid.values()) * spec.seeds
    if count > MAX_RUNS:
        problems.append(f"it has {count:,} runs (grid points x seeds), over the limit of "
                        f"{MAX_RUNS:,}: make the grid or seeds smaller, or split the sweep")
    if problems:
        raise ConfigError(f"sweep {spec.name!r}: " + "; ".join(problems))
    directory = Path(out_dir or spec.out_dir or Path("results") / spec.name)
    varied = list(spec.grid)
    base_seed = spec.base.get("seed", 42)
    configs, names, errors = [], set(), {}
    for values in itertools.product(*spec.grid.values()):
        for i in range(spec.seeds):
            fields = {**spec.base, **dict(zip(varied, values, strict=True)),
                      "seed": base_seed + i, "out_dir": directory}
            try:
                config = ExperimentConfig.create(**fields)
            except ConfigError as exc:
                for part in str(exc).removeprefix("invalid experiment config: ").split("; "):
                    errors.setdefault(part)
                continue
            name = run_name(spec.name, config, varied, seed_suffix=spec.seeds > 1)
            if name in names:
                errors.setdefault(f"two runs would both be named {name!r}; make the grid "
                                  "values distinct")
            names.add(name)
            configs.append(config.replace(run_name=name))
    if errors:
        shown = list(errors)[:5]
        more = f"; and {len(errors) - 5} more" if len(errors) > 5 else ""
        raise ConfigError(f"sweep {spec.name!r} has invalid runs: " + "; ".join(shown) + more)
    return configs


def _spec_problems(spec: SweepSpec) -> list[str]:
    """What is wrong with a sweep's keys before any run is made of them."""
    problems = []
    if unknown := sorted(set(spec.grid) - set(SECTION_OF)):
        problems.append(f"grid field(s) {unknown} are not config fields")
    if fixed := [k for k in NAMED_BY_KEYS if k in spec.grid]:
        problems.append(f"the grid cannot vary {fixed}: use the name, seeds and out_dir keys")
    if in_base := [k for k in ("run_name", "out_dir") if k in spec.base]:
        problems.append(f"base cannot set {in_base}: use the name and out_dir keys")
    seed = spec.base.get("seed", 42)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        problems.append(f"base seed must be a non-negative integer, got {seed!r}")
    return problems


def write_manifest(spec: SweepSpec, configs: list[ExperimentConfig]) -> Path:
    """`<out_dir>/<name>.sweep.json`: the sweep's shared fields, grid and run names."""
    directory = Path(configs[0].out_dir) if configs else Path(spec.out_dir or ".")
    manifest = {"name": spec.name, "base": spec.base, "grid": spec.grid, "seeds": spec.seeds,
                "runs": [c.run_name for c in configs]}
    return atomic_write_json(directory / f"{spec.name}.sweep.json", manifest)
