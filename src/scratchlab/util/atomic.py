"""Atomic file writes: write to a temporary file in the same folder, then rename over the target.

A process killed half way leaves either the old file or the new one, never a half-written file.
The temporary file is named `.<name>.<pid>-<host>.<random>.tmp` after its writer's process id and
a tag of its host, so that `remove_stale_temps` can delete those of killed writers on this host
and leave those of live ones, and those written from another host that shares the folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import socket
import tempfile
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# `-<host>` is absent from the names written before hosts were tagged: those count as this host's
TEMP_NAME = re.compile(
    r"\.(?P<target>.+)\.(?P<pid>[1-9][0-9]*)(?:-(?P<host>[0-9a-f]{8}))?\.[a-z0-9_]{8}\.tmp")
HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
# Another host's temporary file goes once it is this old: no write takes that long.
ELSEWHERE_STALE_SECONDS = 24 * 3600


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically; create parent folders. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.{os.getpid()}-{HOST_TAG}."
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def remove_stale_temps(folder: str | os.PathLike,
                       targets: Iterable[str] | None = None) -> list[Path]:
    """Delete the temporary files in `folder` left by killed writers of `targets` (file names;
    None: any target).

    Only names of the `.<name>.<pid>-<host>.<random>.tmp` scheme go: this host's whose pid is no
    live process, another host's once a day old; returns the paths removed.
    """
    removed: list[Path] = []
    wanted = None if targets is None else set(targets)
    try:
        names = os.listdir(folder)
    except OSError:  # no folder yet, or not readable: nothing to clean
        return removed
    for name in names:
        match = TEMP_NAME.fullmatch(name)
        if match is None or (wanted is not None and match["target"] not in wanted):
            continue
        path = Path(folder, name)
        try:
            if _writer_may_live(match["host"], int(match["pid"]), path):
                continue
            if path.is_file() and not path.is_symlink():
                path.unlink()
                removed.append(path)
        except OSError:  # gone already, or not ours to delete: leave it
            continue
    return removed


def _writer_may_live(host: str | None, pid: int, path: Path) -> bool:
    """This host's writer (or one of an untagged name): its process exists. Another host's: its
    file is younger than `ELSEWHERE_STALE_SECONDS` (its pid says nothing here)."""
    if host in (None, HOST_TAG):
        return _alive(pid)
    return time.time() - path.lstat().st_mtime < ELSEWHERE_STALE_SECONDS


def _alive(pid: int) -> bool:
    """Whether process `pid` exists (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 `text` to `path` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    """Write `obj` as JSON to `path` atomically (NaN/inf are kept as JSON's NaN/Infinity)."""
    text = json.dumps(obj) if indent is None else readable_json(obj, indent)
    return atomic_write_text(path, text + "\n")


PLAIN = frozenset((int, float, bool, str, type(None)))  # types JSON writes as they are


def readable_json(obj: Any, indent: int = 2) -> str:
    """JSON with objects and nested lists indented, a list of plain values (a loss history) on
    one line: easy to read, and written by json's C encoder in one go."""
    runs: list[str] = []
    token = f"@@runs-{uuid.uuid4().hex}-"

    def fold(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: fold(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            if not value or not PLAIN.issuperset(map(type, value)):
                return [fold(v) for v in value]
            runs.append(json.dumps(value))
            return f"{token}{len(runs) - 1}"
        return value

    text = json.dumps(fold(obj), indent=indent)
    return re.sub(f'"{token}([0-9]+)"', lambda m: runs[int(m[1])], text)


def torch_save_atomic(obj: Any, path: str | os.PathLike) -> Path:
    """`torch.save` to `path` atomically."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write_bytes(path, buffer.getvalue())
