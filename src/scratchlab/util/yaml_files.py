"""Reading YAML files that a user wrote by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from scratchlab.errors import ConfigError


def read_yaml(path: str | Path, what: str) -> Any:
    """The content of a YAML file; an unreadable or invalid one is a one-line `ConfigError`."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be read ({exc.strerror}); "
                          "give a YAML file") from None
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        raise ConfigError(f"{what} {path} is not valid YAML: "
                          f"{' '.join(str(exc).split())[:200]}") from None
