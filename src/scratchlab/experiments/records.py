"""`RunRecord`: the one result shape of a run, and its versioned file `<out_dir>/<run_name>.json`.

No torch here, so listing results stays fast.
"""

from __future__ import annotations

import fnmatch
import functools
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from scratchlab.errors import ConfigError
from scratchlab.experiments.config import ExperimentConfig, describe_validation_error
from scratchlab.training.results import FitResult
from scratchlab.util.atomic import atomic_write_json, remove_stale_temps
from scratchlab.util.json_files import read_json

SCHEMA = 2
NOT_RESULTS = (".sweep.json", ".config.json", ".timing.json")  # other JSON files a run writes
RECORD_RULES = ConfigDict(extra="forbid", ser_json_inf_nan="constants", protected_namespaces=(),
                          strict=True)


class Results(BaseModel):
    """The `FitResult` fields: batch losses over all epochs, accuracies (percent) per epoch."""

    model_config = RECORD_RULES

    num_epochs: int = Field(ge=0)
    train_loss: list[float]
    train_acc: list[float]
    test_loss: list[float]
    test_acc: list[float]

    @model_validator(mode="after")
    def _one_accuracy_per_epoch(self) -> Results:
        if not len(self.train_acc) == len(self.test_acc) == self.num_epochs:
            epochs = f"{self.num_epochs} epoch{'' if self.num_epochs == 1 else 's'}"
            raise ValueError(f"{epochs} but {len(self.train_acc)} train and "
                             f"{len(self.test_acc)} test accuracies")
        return self


SUMMARY_NUMBERS = {"best_test_acc": float, "final_test_acc": float, "final_train_acc": float,
                   "epochs": int, "epochs_to_best": int, "params": int, "flops": int}


def _check_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of a summary are numbers (or null); other keys are kept as written."""
    for key, kind in SUMMARY_NUMBERS.items():
        value = summary.get(key)
        kinds = (int, float) if kind is float else int
        if value is not None and (isinstance(value, bool) or not isinstance(value, kinds)):
            raise ValueError(f"summary {key!r} must be a number, got {value!r}")
    return summary


class Timings(BaseModel):
    """Where a run's time went, in wall seconds; a run trained in this version also has
    `started_at` (unix seconds) and `data_seconds`, `build_seconds` and `fit_seconds`."""

    model_config = ConfigDict(extra="allow", ser_json_inf_nan="constants")

    train_seconds: float | None = None
    seconds_per_epoch: list[float] = Field(default_factory=list)


class RunRecord(BaseModel):
    """A finished or failed run: config, history, summary numbers, timings and environment."""

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="constants",
                              protected_namespaces=(), populate_by_name=True)

    schema_version: Literal[2] = Field(SCHEMA, alias="schema")
    config: ExperimentConfig
    results: Results | None = None
    status: Literal["ok", "failed"] = "ok"
    error: str | None = None
    summary: Annotated[dict[str, Any], AfterValidator(_check_summary)] = Field(
        default_factory=dict)
    timings: Timings = Field(default_factory=Timings)
    env: dict[str, Any] = Field(default_factory=dict)
    commit: str | None = None
    cached: bool = Field(False, exclude=True, description="read back from an earlier run")
    source: Path | None = Field(None, exclude=True, description="the file it was read from")

    @model_validator(mode="after")
    def _ok_has_results(self) -> RunRecord:
        if self.status == "ok" and self.results is None:
            raise ValueError("status 'ok' but no results")
        return self

    @functools.cached_property
    def fit(self) -> FitResult | None:
        """The history as the course's `FitResult` (None for a failed run)."""
        return None if self.results is None else FitResult(**self.results.model_dump())

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def path(self) -> Path:
        """Where the record is written: `<out_dir>/<run_name>.json`."""
        return result_path(self.config)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def result_path(config: ExperimentConfig) -> Path:
    return Path(config.out_dir) / f"{config.run_name}.json"


def write_record(record: RunRecord, path: str | Path | None = None) -> Path:
    """Write `record` atomically (default `<out_dir>/<run_name>.json`); returns the path.

    Temporary files of this path left by a killed writer are deleted first.
    """
    target = Path(path) if path is not None else record.path
    try:
        remove_stale_temps(target.parent, [target.name])
        return atomic_write_json(target, record.to_dict())
    except OSError as exc:
        raise ConfigError(f"cannot write results file {target} ({exc.strerror}); choose an "
                          "out_dir you can write to") from None


def load_record(path: str | Path) -> RunRecord:
    """The record in a results file; a missing, damaged or foreign file is a `ConfigError`."""
    data = read_json(path, "results file")
    if not isinstance(data, dict) or "config" not in data:
        raise ConfigError(f"results file {path} is not a run record (no 'config' mapping)")
    if isinstance(data["config"], dict) and "run_name" not in data["config"]:
        raise ConfigError(f"results file {path} is damaged: its config has no run_name")
    try:
        record = RunRecord.model_validate(data if "schema" in data else _from_classic(data))
        return record.model_copy(update={"source": Path(path)})
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, f"results file {path}")) from None
    except ConfigError as exc:
        raise ConfigError(f"results file {path}: {exc}") from None


def load_experiment(path: str | Path) -> tuple[ExperimentConfig, FitResult]:
    """The config and FitResult stored in a results file (the classic `load_experiment`)."""
    record = load_record(path)
    if record.fit is None:
        raise ConfigError(f"{path} holds no results (status {record.status!r}: {record.error})")
    return record.config, record.fit


def find_records(directory: str | Path, pattern: str = "*") -> list[Path]:
    """Results files under `directory` (any depth, no checkpoints) whose run name fits `pattern`."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(f"results folder {directory} does not exist; run an experiment or "
                          "sweep first")
    pattern = pattern.removesuffix(".json")
    return sorted(
        p for p in directory.rglob("*.json")
        if "checkpoints" not in p.relative_to(directory).parts[:-1]
        and not p.name.endswith(NOT_RESULTS) and fnmatch.fnmatchcase(p.stem, pattern)
        and _looks_like_record(p))


def load_records(directory: str | Path, pattern: str = "*") -> list[RunRecord]:
    """Every record `find_records` finds, read and validated."""
    return [load_record(path) for path in find_records(directory, pattern)]


def _looks_like_record(path: Path) -> bool:
    """A results file is a JSON object with a `config` key (the start of the file says so)."""
    try:
        with path.open("rb") as f:
            head = f.read(4096)
    except OSError:
        return True  # load_record names the problem
    return not head.lstrip().startswith(b"{") or b'"config"' in head or b'"schema"' in head


def _from_classic(data: dict[str, Any]) -> dict[str, Any]:
    """A results file of the flat format (before schema 2) in the record's shape."""
    environment = data.get("environment") or {}
    summary = dict(data.get("summary") or {})
    timings = {k: summary.pop(k) for k in ("train_seconds", "seconds_per_epoch") if k in summary}
    return {"schema": SCHEMA, "config": _classic_config(data["config"]),
            "results": data.get("results"), "status": data.get("status", "ok"),
            "error": data.get("error"), "summary": summary, "timings": timings,
            "env": {k: v for k, v in environment.items() if k != "git_commit"},
            "commit": environment.get("git_commit")}


def _classic_config(config: Any) -> Any:
    """Flat fields of a classic config; the fast trainer's lr and reg were airbench's units."""
    if not isinstance(config, dict) or config.get("trainer") != "fast":
        return config
    from scratchlab.training.accel.fast_settings import from_airbench

    momentum = config.get("momentum", 0.9) if config.get("optimizer") == "momentum" else 0.0
    lr, reg = from_airbench(config.get("lr", 1e-3), config.get("reg", 1e-3), momentum,
                            config.get("bs_train", 128))
    return {**config, "lr": lr, "reg": reg}
