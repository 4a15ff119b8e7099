"""Where datasets live: `$SCRATCHLAB_DATA`, and data roots written relative to it, so that results
files carry no path of the machine that made them."""

from __future__ import annotations

import os

DATA_ENV = "SCRATCHLAB_DATA"


def expand_data_root(root: str | None) -> str | None:
    """`$SCRATCHLAB_DATA/NAME` (as results files record it) as NAME in `$SCRATCHLAB_DATA`."""
    env = os.environ.get(DATA_ENV)
    if isinstance(root, str) and env and root.split("/")[0] in (f"${DATA_ENV}",
                                                                f"${{{DATA_ENV}}}"):
        return os.path.join(env, *root.split("/")[1:])
    return root


def portable_data_root(root: str | None) -> str | None:
    """`root`, or `$SCRATCHLAB_DATA/<part below it>` when it is an absolute path inside
    `$SCRATCHLAB_DATA` (a relative path stays as given)."""
    env = os.environ.get(DATA_ENV)
    if root is None or not env or not os.path.isabs(os.path.expanduser(root)):
        return root
    base = os.path.abspath(os.path.expanduser(env))
    path = os.path.normpath(os.path.expanduser(root))
    if path != base and not path.startswith(base.rstrip(os.sep) + os.sep):
        return root
    rest = os.path.relpath(path, base).replace(os.sep, "/")
    return f"${DATA_ENV}" + ("" if rest == "." else f"/{rest}")
