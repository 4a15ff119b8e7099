"""Low-level helpers shared by every layer: seeding, devices, atomic files, progress bars.

Sits at the bottom of the import layers next to `scratchlab.errors`; it imports nothing else from
scratchlab.
"""

from scratchlab.util.atomic import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    torch_save_atomic,
)
from scratchlab.util.device import resolve_device
from scratchlab.util.progress import progress
from scratchlab.util.seeding import get_rng_state, seed_everything, set_rng_state

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "get_rng_state",
    "progress",
    "resolve_device",
    "seed_everything",
    "set_rng_state",
    "torch_save_atomic",
]
