"""Progress bars (tqdm) that stay silent when output is not a terminal or when asked to be quiet."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm

_QUIET_ENV = "SCRATCHLAB_QUIET"


def progress_enabled(verbose: bool = True) -> bool:
    """True when a bar should be drawn: verbose, stderr is a TTY and SCRATCHLAB_QUIET is unset."""
    if not verbose or os.environ.get(_QUIET_ENV):
        return False
    return sys.stderr.isatty()


def progress(iterable: Iterable | None = None, verbose: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm bar over `iterable`, disabled unless `progress_enabled(verbose)`."""
    return tqdm(iterable, disable=not progress_enabled(verbose), dynamic_ncols=True, **kwargs)
