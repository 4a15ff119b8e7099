"""`ExperimentConfig`: everything one run needs, in sections, each field with its unit.

Field names are unique across sections, so flat names work everywhere. No torch here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from scratchlab.errors import ConfigError
from scratchlab.experiments.sections import (
    SECTION_RULES,
    BudgetSection,
    DataSection,
    ModelSection,
    OptimSection,
    SpeedSection,
)
from scratchlab.training.accel.fast_settings import FastSettings

SECTIONS: dict[str, type[BaseModel]] = {
    "data": DataSection, "model": ModelSection, "optim": OptimSection, "budget": BudgetSection,
    "speed": SpeedSection, "fast": FastSettings}
TOP_FIELDS = ("run_name", "out_dir", "seed", "device", "trainer", "tensorboard")
# flat field name -> its section ("" for the top level)
SECTION_OF: dict[str, str] = dict.fromkeys(TOP_FIELDS, "") | {
    name: section for section, cls in SECTIONS.items() for name in cls.model_fields}


def not_empty_folder(folder: Any) -> Any:
    """`folder` unchanged; an empty (or blank) path is a `ValueError` for pydantic to report."""
    if isinstance(folder, str) and not folder.strip():
        raise ValueError("an empty path is not a folder")
    return folder


class ExperimentConfig(BaseModel):
    """One training run: identity and output, then data, model, optim, budget, speed, fast."""

    model_config = SECTION_RULES

    run_name: str = Field("exp", min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.+=-]+$",
                          description="name of the run; its results file is "
                          "<out_dir>/<run_name>.json (run-exp names it <name>_L<L>_K<K> when "
                          "the model family reads K and L)")
    out_dir: Path = Field(Path("results"), description="folder of results files (and checkpoints/)")
    seed: int = Field(42, ge=0, lt=2**63, description="seeds python, numpy and torch")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$",
                        description="auto, cpu, cuda or cuda:N")
    trainer: Literal["classic", "fast"] = Field(
        "classic", description="classic (ClassifierTrainer) or fast (airbench-style)")
    tensorboard: Path | None = Field(None, description="write TensorBoard logs of the run to "
                                     "this folder (needs the tensorboard extra)")
    data: DataSection = Field(default_factory=DataSection)
    model: ModelSection = Field(default_factory=ModelSection)
    optim: OptimSection = Field(default_factory=OptimSection)
    budget: BudgetSection = Field(default_factory=BudgetSection)
    speed: SpeedSection = Field(default_factory=SpeedSection)
    fast: FastSettings = Field(default_factory=FastSettings)

    @model_validator(mode="before")
    @classmethod
    def _sections(cls, data: Any) -> Any:
        """Flat field names (`lr=...`) are accepted everywhere and sorted into sections."""
        return nest(data) if isinstance(data, dict) else data

    _not_empty = field_validator("out_dir", "tensorboard", mode="before")(
        staticmethod(not_empty_folder))

    @field_validator("run_name")
    @classmethod
    def _not_dots(cls, name: str) -> str:
        if set(name) == {"."}:
            raise ValueError(f"a run name of dots only is not a file name, got {name!r}")
        return name

    @classmethod
    def create(cls, **fields: Any) -> ExperimentConfig:
        """Validate `fields` (flat or in sections), refusing unread ones, into one `ConfigError`."""
        return cls.checked(fields, given_fields(fields))

    @classmethod
    def checked(cls, fields: dict[str, Any], given: set[str]) -> ExperimentConfig:
        """Validate `fields`, refusing those in `given` (the user's, not a recipe's) it ignores."""
        from scratchlab.experiments.config_checks import check_consistent, check_fields_read

        config = cls.load(fields)
        check_consistent(config)
        check_fields_read(config, given)
        return config

    @classmethod
    def load(cls, data: dict[str, Any], what: str = "experiment config") -> ExperimentConfig:
        """Validate a mapping (flat keys or sections) without the checks of `create`."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc, what)) from None

    def flat(self) -> dict[str, Any]:
        """Every field by its flat name, as JSON values."""
        data = self.to_dict()
        return {name: data[s][name] if s else data[name] for name, s in SECTION_OF.items()}

    def replace(self, **fields: Any) -> ExperimentConfig:
        """A copy with `fields` (flat names) changed, validated and checked for consistency."""
        return ExperimentConfig.checked({**self.flat(), **fields}, given=set())

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def nest(fields: dict[str, Any]) -> dict[str, Any]:
    """Flat keys sorted into their sections; section mappings are merged in (flat keys win)."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key in SECTIONS and isinstance(value, dict):
            out[key] = {**value, **out.get(key, {})}
        elif SECTION_OF.get(key):
            out.setdefault(SECTION_OF[key], {})[key] = value
        else:
            out[key] = value  # top-level fields; unknown keys fail validation by name
    return out


def given_fields(fields: dict[str, Any]) -> set[str]:
    """The flat names of the fields a mapping (flat or in sections) sets."""
    names: set[str] = set()
    for key, value in fields.items():
        names |= set(value) if key in SECTIONS and isinstance(value, dict) else {key}
    return names


def describe_validation_error(exc: ValidationError, what: str = "experiment config",
                              known: list[str] | None = None) -> str:
    """Every pydantic error on one line, each naming the field, what was wrong and the value."""
    known = known if known is not None else list(SECTION_OF)
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        field = loc[-1] if len(loc) == 2 and loc[0] in SECTIONS else ".".join(loc) or "config"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = f"unknown field (known fields: {', '.join(known)})"
        elif "input" in err and err["type"] != "missing":
            got = repr(err["input"])
            msg = f"{msg} (got {got if len(got) <= 80 else got[:77] + '...'})"
        parts.append(f"{field}: {msg}")
    return f"invalid {what}: " + "; ".join(parts)
