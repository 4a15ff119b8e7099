"""A cache of decoded arrays as `.npy` files, keyed by the source's name, size and mtime.

The cache file goes next to the source file (inside a source folder) when that is writable, else
under `$SCRATCHLAB_CACHE` (default ``~/.cache/scratchlab``). A folder without write permission bits
is treated as read-only even for a user (root) who could write there anyway.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from scratchlab.util import atomic_write_bytes
from scratchlab.util.folders import is_writable_dir

CACHE_ENV = "SCRATCHLAB_CACHE"
_WRITERS: list[threading.Thread] = []  # cache files being written in the background


def cache_dir() -> Path:
    """`$SCRATCHLAB_CACHE`, else ``~/.cache/scratchlab``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "scratchlab"


def source_key(files: Iterable[Path]) -> str:
    """A short hash of the files' names, sizes and modification times."""
    digest = hashlib.sha1()
    for f in files:
        st = f.stat()
        digest.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


def cache_candidates(source: Path, tag: str, key: str) -> list[Path]:
    """Where a cache of `source` may live: beside (or, for a folder, inside) it, then the cache
    folder."""
    name = f"{source.stem}.{tag}.{key}.npy"
    beside = source if source.is_dir() else source.parent
    return [beside / name, cache_dir() / name]


def load_cached(source: Path, tag: str, key: str) -> np.ndarray | None:
    """The cached array for (`source`, `tag`, `key`), or None when there is none (or it is
    broken)."""
    wait_for_writes()
    for path in cache_candidates(source, tag, key):
        if path.is_file():
            try:
                return np.load(path, allow_pickle=False)
            except (OSError, ValueError):
                continue
    return None


def save_cached(source: Path, tag: str, key: str, array: np.ndarray,
                background: bool = False) -> Path | None:
    """Write `array` atomically to the first writable cache location; None when none is writable.

    `background`: the places are chosen now, a copy of the array is written on a thread of its
    own (the caller goes on; `load_cached` and `wait_for_writes` wait for it, and so does the
    interpreter at exit); it returns the first place it will try.
    """
    places = cache_candidates(source, tag, key)
    while places and not _usable(places[0].parent):
        places.pop(0)
    if not places:
        return None
    if not background:
        return _write_first(places, array)
    writer = threading.Thread(target=_write_first, args=(places, array.copy()),
                              name="scratchlab-cache-write")
    writer.start()
    _WRITERS.append(writer)
    return places[0]


def wait_for_writes() -> None:
    """Wait until every cache file written in the background is on disk."""
    while True:
        try:
            writer = _WRITERS.pop()
        except IndexError:  # none left (another thread may have taken the last)
            return
        writer.join()


def _usable(folder: Path) -> bool:
    """Whether `folder` exists (made if need be) and may be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return is_writable_dir(folder)


def _write_first(places: list[Path], array: np.ndarray) -> Path | None:
    """Write `array` to the first of `places` that takes it (the first one known writable)."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    for index, path in enumerate(places):
        if index and not _usable(path.parent):
            continue
        try:
            return atomic_write_bytes(path, buffer.getvalue())
        except OSError:
            continue
    return None
