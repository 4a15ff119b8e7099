"""What the CNN architecture study trains (default: `spec.yaml` beside this module).

`P` (pool_every) is an integer, or `"L"`: one pool after the L convolutions of each K entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scratchlab.errors import ConfigError
from scratchlab.experiments import (
    CUDA_GRAPH_OPTIMIZERS,
    ExperimentConfig,
    describe_validation_error,
    ignored_by,
)
from scratchlab.util.yaml_files import read_yaml

SPEC_FILE = Path(__file__).with_name("spec.yaml")  # the defaults
DEFAULT_SPEC: dict[str, Any] = read_yaml(SPEC_FILE, "study spec")
# Shared settings a run leaves out where its config says it cannot use them: a captured CUDA-graph
# step needs Adam or AdamW, and plain SGD reads no momentum (e.g. a search point).
WHERE_READ = ("cuda_graph", "momentum")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GroupSpec(Strict):
    """Runs of one model family: every K with every L, pooling every P convolutions."""

    model_type: str
    K: list[list[int]] = Field(min_length=1)
    L: list[int] = Field(min_length=1)
    P: int | Literal["L"]
    fields: dict[str, Any] = Field(default_factory=dict)


class QuickSpec(Strict):
    train_limit: int = Field(ge=1)
    test_limit: int = Field(ge=1)
    epochs: int = Field(ge=1)
    runs_per_experiment: int = Field(ge=1)


class SearchSpec(Strict):
    probes: list[str] = Field(min_length=1)
    points: list[dict[str, Any]] = Field(min_length=1)


class StudySpec(Strict):
    """The whole study: shared config fields, hyper-parameters, experiments, quick and search."""

    base: dict[str, Any]
    hyperparameters: dict[str, Any]
    cuda: dict[str, Any] = Field(default_factory=dict)
    experiments: dict[str, list[GroupSpec]] = Field(min_length=1)
    quick: QuickSpec
    search: SearchSpec


@dataclass(frozen=True)
class RunSpec:
    """One architecture of the study (trained once per seed)."""

    experiment: str
    model_type: str
    K: tuple[int, ...]
    L: int
    P: int
    fields: dict[str, Any]

    @property
    def name(self) -> str:
        """The classic run name, e.g. `exp1_3_L2_K64-128-256`."""
        return f"{self.experiment}_L{self.L}_K{'-'.join(map(str, self.K))}"


def load_spec(spec: str | Path | dict[str, Any] | StudySpec | None = None) -> StudySpec:
    """The study's settings: the defaults, a YAML file or a mapping; problems are ConfigErrors."""
    if isinstance(spec, StudySpec):
        return spec
    data = read_yaml(spec, "study spec") if isinstance(spec, str | Path) else spec
    try:
        return StudySpec.model_validate(DEFAULT_SPEC if spec is None else data)
    except ValidationError as exc:
        raise ConfigError(
            describe_validation_error(exc, "cnn-architecture study spec",
                                      list(StudySpec.model_fields))) from None


def study_runs(spec: StudySpec, quick: bool = False,
               experiments: list[str] | None = None) -> list[RunSpec]:
    """Every architecture of the study, in order (quick: the first runs of each experiment)."""
    names = experiments or list(spec.experiments)
    unknown = [n for n in names if n not in spec.experiments]
    if unknown:
        raise ConfigError(f"unknown experiment(s) {unknown}; the study has "
                          f"{', '.join(spec.experiments)}")
    runs = []
    for experiment in names:
        todo = [
            RunSpec(experiment, group.model_type, tuple(K), L, L if group.P == "L" else group.P,
                    dict(group.fields))
            for group in spec.experiments[experiment] for K in group.K for L in group.L
        ]
        runs += todo[: spec.quick.runs_per_experiment] if quick else todo
    return runs


def find_runs(spec: StudySpec, names: list[str]) -> list[RunSpec]:
    """The runs called `names` (e.g. the search probes); an unknown name is a ConfigError."""
    by_name = {run.name: run for run in study_runs(spec)}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ConfigError(f"unknown run name(s) {missing}; names look like {next(iter(by_name))}")
    return [by_name[n] for n in names]


def data_overrides(spec: StudySpec, quick: bool, device: str,
                   data_root: str | Path | None = None, train_limit: int | None = None,
                   test_limit: int | None = None, epochs: int | None = None) -> dict[str, Any]:
    """Config fields every run shares beyond the spec: data sizes, budget and where the data is."""
    out = spec.quick.model_dump(exclude={"runs_per_experiment"}) if quick else {}
    given = {"train_limit": train_limit, "test_limit": test_limit, "epochs": epochs,
             "data_root": None if data_root is None else str(data_root)}
    out.update({key: value for key, value in given.items() if value is not None})
    if device.startswith("cuda") and spec.base.get("dataset", "cifar10") == "cifar10":
        # Convert and subset the images on the GPU instead of the CPU.
        out["dataset_options"] = {**spec.base.get("dataset_options", {}), "device": device}
    return out


def study_configs(spec: StudySpec, runs_dir: Path, device: str = "cpu", quick: bool = False,
                  seeds: list[int] | None = None, hyper: dict[str, Any] | None = None,
                  experiments: list[str] | None = None,
                  overrides: dict[str, Any] | None = None) -> list[ExperimentConfig]:
    """One config per architecture and seed (`hyper`: default the spec's hyper-parameters)."""
    seeds = seeds or [0]
    hyper = hyper if hyper is not None else dict(spec.hyperparameters)
    return [run_config(run, spec, hyper, seed, runs_dir, device, overrides or {},
                       f"_s{seed}" if len(seeds) > 1 else "")
            for run in study_runs(spec, quick, experiments) for seed in seeds]


def run_config(run: RunSpec, spec: StudySpec, hyper: dict[str, Any], seed: int, out_dir: Path,
               device: str, overrides: dict[str, Any], suffix: str = "") -> ExperimentConfig:
    """The ExperimentConfig of one run and seed (`overrides`: data sizes, epochs, data location)."""
    fields = {
        **spec.base, **hyper, **(spec.cuda if device.startswith("cuda") else {}),
        "model_type": run.model_type, "filters_per_layer": list(run.K),
        "layers_per_block": run.L, "pool_every": run.P, **run.fields, **overrides,
        "run_name": run.name + suffix, "out_dir": out_dir, "seed": seed, "device": device,
    }
    if fields.get("optimizer") not in CUDA_GRAPH_OPTIMIZERS:
        fields.pop("cuda_graph", None)  # a captured step needs Adam/AdamW (e.g. an SGD point)
    draft = ExperimentConfig.load(fields)
    unread = [name for name in WHERE_READ if name in fields and ignored_by(draft, name)]
    return ExperimentConfig.create(**{k: v for k, v in fields.items() if k not in unread})
