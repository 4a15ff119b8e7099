"""Low-level helpers shared by every layer: seeding, devices, atomic files, progress bars.

Sits at the bottom of the import layers next to `scratchlab.errors`; it imports nothing else from
scratchlab. Names are imported on first use (importing torch is slow; the CLI parser needs none).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "atomic_write_bytes": "scratchlab.util.atomic",
    "atomic_write_json": "scratchlab.util.atomic",
    "atomic_write_text": "scratchlab.util.atomic",
    "torch_save_atomic": "scratchlab.util.atomic",
    "resolve_device": "scratchlab.util.device",
    "progress": "scratchlab.util.progress_bars",
    "get_rng_state": "scratchlab.util.seeding",
    "seed_everything": "scratchlab.util.seeding",
    "set_rng_state": "scratchlab.util.seeding",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'scratchlab.util' has no attribute {name!r}")
