"""A cache of decoded arrays as `.npy` files, keyed by the source's name, size and mtime.

The cache file goes next to the source file (inside a source folder) when that is writable, else
under `$SCRATCHLAB_CACHE` (default ``~/.cache/scratchlab``). A folder without write permission bits
is treated as read-only even for a user (root) who could write there anyway.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from scratchlab.util import atomic_write_bytes
from scratchlab.util.folders import is_writable_dir

CACHE_ENV = "SCRATCHLAB_CACHE"


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
    for path in cache_candidates(source, tag, key):
        if path.is_file():
            try:
                return np.load(path, allow_pickle=False)
            except (OSError, ValueError):
                continue
    return None


def save_cached(source: Path, tag: str, key: str, array: np.ndarray) -> Path | None:
    """Write `array` atomically to the first writable cache location; None when none is writable."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    for path in cache_candidates(source, tag, key):
        folder = path.parent
        if not folder.exists():
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError:
                continue
        if not is_writable_dir(folder):
            continue
        try:
            return atomic_write_bytes(path, buffer.getvalue())
        except OSError:
            continue
    return None
