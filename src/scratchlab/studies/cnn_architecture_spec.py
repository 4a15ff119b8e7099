"""What the CNN architecture study trains: shared settings, the experiments, the search grid.

The settings below are the study's defaults; `configs/cnn_architecture.yaml` holds the same
content as an editable file (`run(spec="my.yaml")` or `--spec my.yaml` uses another one).

Pooling (`P`, pool_every) is chosen per experiment so that no feature map collapses: an integer
pools after every P convolutions; `"L"` pools after each stage of L convolutions of one K entry
(so a K list of three widths always gives three pools, 32 -> 4 pixels).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scratchlab.errors import ConfigError
from scratchlab.experiments import ExperimentConfig
from scratchlab.experiments.config import CUDA_GRAPH_OPTIMIZERS, describe_validation_error

DEFAULT_SPEC: dict[str, Any] = {
    # ExperimentConfig fields shared by every run of the study.
    "base": {
        "dataset": "cifar10",
        "train_split": "train",
        "test_split": "test",
        "train_limit": 30000,
        "test_limit": 5000,
        "normalize": True,
        "augment": ["crop", "flip"],
        "epochs": 10,
        "early_stopping": 5,
        "batches": None,
        "bs_test": 1000,
        "checkpoints": False,
        "hidden_dims": [100],
    },
    # The one fixed set of optimisation settings (what `--search` chooses among).
    "hyperparameters": {
        "optimizer": "adamw",
        "lr": 0.002,
        "reg": 0.05,
        "momentum": 0.9,
        "bs_train": 256,
        "label_smoothing": 0.1,
        "lr_schedule": "onecycle",
    },
    # Speed settings used where they help: on CUDA devices only.
    "cuda": {"precision": "bf16", "channels_last": True, "cudnn_benchmark": False, "cuda_graph": True},
    "experiments": {
        "exp1_1": [{"model_type": "cnn", "K": [[32], [64]], "L": [2, 4, 8, 16], "P": 4}],
        "exp1_2": [{"model_type": "cnn", "K": [[32], [64], [128]], "L": [2, 4, 8], "P": 2}],
        "exp1_3": [{"model_type": "cnn", "K": [[64, 128, 256]], "L": [1, 2, 3, 4], "P": "L"}],
        "exp1_4": [
            {"model_type": "resnet", "K": [[32]], "L": [8, 16, 32], "P": 8, "fields": {"batchnorm": True}},
            {"model_type": "resnet", "K": [[64, 128, 256]], "L": [2, 4, 8], "P": "L", "fields": {"batchnorm": True}},
        ],
        "exp2": [
            {"model_type": "yourcnn", "K": [[32, 64, 128]], "L": [3, 6, 9, 12, 18], "P": "L",
             "fields": {"hidden_dims": [], "dropout": 0.1, "activation": "gelu",
                        "model_options": {"stem_channels": 32, "pool_position": "after_widen",
                                          "width_multiplier": 3}}},
        ],
    },
    # --quick: a tiny budget for CPUs and CI; the first runs of each experiment.
    "quick": {"train_limit": 1000, "test_limit": 500, "epochs": 1, "runs_per_experiment": 2},
    # --search: every point is trained on the probe runs (first seed); the best mean wins.
    "search": {
        "probes": ["exp1_2_L4_K64", "exp1_4_L4_K64-128-256", "exp2_L6_K32-64-128"],
        "points": [
            {"optimizer": "adamw", "lr": 0.001, "reg": 0.05, "bs_train": 128},
            {"optimizer": "adamw", "lr": 0.002, "reg": 0.05, "bs_train": 256},
            {"optimizer": "adamw", "lr": 0.004, "reg": 0.05, "bs_train": 256},
            {"optimizer": "adam", "lr": 0.001, "reg": 0.0005, "bs_train": 128},
            {"optimizer": "momentum", "lr": 0.05, "reg": 0.0005, "bs_train": 128},
            {"optimizer": "momentum", "lr": 0.1, "reg": 0.0005, "bs_train": 256},
        ],
    },
}


class GroupSpec(BaseModel):
    """Runs of one model family: every K with every L, pooling every P convolutions."""

    model_config = ConfigDict(extra="forbid")

    model_type: str
    K: list[list[int]] = Field(min_length=1)
    L: list[int] = Field(min_length=1)
    P: int | Literal["L"]
    fields: dict[str, Any] = Field(default_factory=dict)


class QuickSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    train_limit: int = Field(ge=1)
    test_limit: int = Field(ge=1)
    epochs: int = Field(ge=1)
    runs_per_experiment: int = Field(ge=1)


class SearchSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    probes: list[str] = Field(min_length=1)
    points: list[dict[str, Any]] = Field(min_length=1)


class StudySpec(BaseModel):
    """The whole study: shared config fields, hyper-parameters, experiments, quick and search."""

    model_config = ConfigDict(extra="forbid")

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
    if spec is None:
        data: Any = DEFAULT_SPEC
    elif isinstance(spec, dict):
        data = spec
    else:
        try:
            data = yaml.safe_load(Path(spec).read_text())
        except OSError as exc:
            raise ConfigError(f"study spec {spec} cannot be read ({exc.strerror}); give a YAML file") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"study spec {spec} is not valid YAML: {' '.join(str(exc).split())}") from None
    try:
        return StudySpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, "cnn-architecture study spec", list(StudySpec.model_fields))) from None


def pool_every(P: int | str, L: int) -> int:
    return L if P == "L" else int(P)


def study_runs(spec: StudySpec, quick: bool = False, experiments: list[str] | None = None) -> list[RunSpec]:
    """Every architecture of the study, in order; quick mode keeps the first runs of each experiment."""
    names = experiments or list(spec.experiments)
    unknown = [n for n in names if n not in spec.experiments]
    if unknown:
        raise ConfigError(f"unknown experiment(s) {unknown}; the study has {', '.join(spec.experiments)}")
    runs = []
    for experiment in names:
        todo = [
            RunSpec(experiment, group.model_type, tuple(K), L, pool_every(group.P, L), dict(group.fields))
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


def executor_for(device: str) -> str:
    """Runs at once on a GPU share it as threads, one CUDA stream each (their kernels overlap);
    elsewhere they run as worker processes."""
    return "threads" if device.startswith("cuda") else "local"


def run_config(
    run: RunSpec, spec: StudySpec, hyper: dict[str, Any], seed: int, out_dir: Path,
    device: str, overrides: dict[str, Any], suffix: str = "",
) -> ExperimentConfig:
    """The ExperimentConfig of one run and seed (`overrides`: data sizes, epochs, data location)."""
    cuda = dict(spec.cuda) if device.startswith("cuda") else {}
    if cuda.get("cuda_graph") and {**spec.base, **hyper}.get("optimizer") not in CUDA_GRAPH_OPTIMIZERS:
        cuda["cuda_graph"] = False  # a captured step needs Adam/AdamW (e.g. a search point with SGD)
    fields = {
        **spec.base, **hyper, **cuda,
        "model_type": run.model_type, "filters_per_layer": list(run.K),
        "layers_per_block": run.L, "pool_every": run.P,
        **run.fields, **overrides,
        "run_name": run.name + suffix, "out_dir": out_dir, "seed": seed, "device": device,
    }
    return ExperimentConfig.create(**fields)
