"""The dataset YAML of a YOLO-format folder, checked before ultralytics reads it.

ultralytics would try to download a dataset it does not find, and fails deep inside on a field of
the wrong type; `check_data` stops first, with one line that says what is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from scratchlab.errors import ConfigError, DatasetNotFoundError
from scratchlab.util.yaml_files import read_yaml

HINT = "pass the data.yaml of a YOLO-format folder (scratchlab detect prepare-coco writes one)"


class DataFile(BaseModel):
    """The fields of a dataset YAML that training reads; other keys pass through to ultralytics."""

    model_config = ConfigDict(extra="allow", strict=True)

    path: str | None = None  # the dataset's root; the YAML's folder when absent
    train: str | list[str] | None = None  # image folders or list files, relative to `path`
    val: str | list[str] | None = None
    test: str | list[str] | None = None
    names: list[str] | dict[int, str] | None = None  # class names, by index
    nc: int | None = None  # the number of classes (where `names` is absent)

    @model_validator(mode="after")
    def _has_classes(self) -> DataFile:
        if self.names is None and self.nc is None:
            raise ValueError("needs 'train', 'val' and 'names'")
        return self

    def entries(self, split: str) -> list[str]:
        """The folders or list files of `split` (none when it is absent)."""
        value = getattr(self, split, None) or (self.model_extra or {}).get(split)
        return [value] if isinstance(value, str) else list(value or [])


SPLIT = "a folder or list file, or a list of them"
KINDS = {"path": "a folder", "train": SPLIT, "val": SPLIT, "test": SPLIT,
         "names": "a list of class names or a map of index to name", "nc": "an integer"}


def _reason(exc: ValidationError, doc: dict) -> str:
    """The first problem of `exc` on one line: which field, what it should be, what it is."""
    loc = exc.errors()[0]["loc"]
    if not loc:
        return exc.errors()[0]["msg"].removeprefix("Value error, ")
    field = str(loc[0])
    return f"'{field}' should be {KINDS[field]}, not {repr(doc[field])[:60]}"


def check_data(data: str | Path, splits: Sequence[str] = ("train", "val")) -> str:
    """The absolute path of a dataset YAML whose `splits` exist on disk."""
    path = Path(data).expanduser()
    if path.suffix.lower() not in {".yaml", ".yml"} or not path.is_file():
        raise DatasetNotFoundError(f"dataset file {data} not found; {HINT}")
    doc = read_yaml(path, "dataset file")
    if not isinstance(doc, dict):
        raise ConfigError(f"dataset file {data} needs 'train', 'val' and 'names'; {HINT}")
    doc = {str(key): value for key, value in doc.items()}
    try:
        spec = DataFile.model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(f"dataset file {data}: {_reason(exc, doc)}; {HINT}") from None
    root = Path(spec.path).expanduser() if spec.path else path.resolve().parent
    for split in splits:
        entries = spec.entries(split)
        if not entries:
            raise DatasetNotFoundError(f"dataset file {data} has no {split!r} split; {HINT}")
        for entry in entries:
            where = root / str(entry)
            if not isinstance(entry, str) or not where.exists():
                raise DatasetNotFoundError(f"{split} images of {data} not found at {where}")
    return str(path.resolve())
