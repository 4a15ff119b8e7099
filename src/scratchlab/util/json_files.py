"""Reading JSON files that a user may have damaged, moved or replaced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scratchlab.errors import ConfigError


def read_json(path: str | Path, what: str) -> Any:
    """The content of a JSON file; a missing, unreadable or invalid one is a `ConfigError`."""
    path = Path(path)
    if path.is_symlink():
        raise ConfigError(f"{what} {path} is a symbolic link; give the file itself")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} {path} is a folder, not a file") from None
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be read ({exc.strerror})") from None
    except (ValueError, RecursionError) as exc:  # also numbers of over 4,300 digits
        reason = " ".join(str(exc).split())[:120]
        raise ConfigError(f"{what} {path} is not valid JSON ({reason})") from None
