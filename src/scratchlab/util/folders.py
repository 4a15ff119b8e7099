"""Checks of where scratchlab is about to write, made before anything is written."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from scratchlab.errors import ConfigError


def is_writable_dir(folder: Path) -> bool:
    """True when `folder` exists, has its owner-write bit set and is writable by this process."""
    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    return bool(mode & stat.S_IWUSR) and os.access(folder, os.W_OK)


def check_out_dir(path: str | Path, what: str = "out_dir") -> None:
    """Refuse a folder that cannot be made or written (a file or a broken link in the way, a
    read-only folder, a loop of links)."""
    path = Path(path)
    if str(path) == "":
        raise ConfigError(f"{what} is empty; give a folder")
    try:
        existing = path
        while not existing.exists() and existing != existing.parent:
            if existing.is_symlink():
                raise ConfigError(f"{what} {path} cannot be made: {existing} is a symbolic link "
                                  f"to nothing; choose another {what}")
            existing = existing.parent
        if not existing.is_dir():
            raise ConfigError(f"{what} {path} cannot be a folder: {existing} is a file; choose "
                              f"another {what}")
        blocker = path / "checkpoints"
        if existing == path and blocker.exists() and not blocker.is_dir():
            raise ConfigError(f"{what} {path} holds a file named checkpoints where its "
                              "checkpoint folder goes; move it or choose another " + what)
    except OSError as exc:  # a loop of links, a name too long, ...
        raise ConfigError(f"{what} {path} cannot be used ({exc.strerror or exc}); choose "
                          f"another {what}") from None
    if not is_writable_dir(existing):
        raise ConfigError(f"{what} {path} cannot be written: {existing} is read-only; choose "
                          f"another {what}")


def check_out_file(path: str | Path, what: str = "--output") -> None:
    """Refuse a file path that is a folder or whose folder cannot be made or written."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a folder; give a file name")
    check_out_dir(path.parent, f"the folder of {what} {path}:")
