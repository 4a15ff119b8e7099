"""A checksum inside a saved state, so that a flipped bit anywhere is caught on loading.

`seal(state)` adds a SHA-256 of everything in the state (tensors by dtype, shape and bytes; plain
values by type and value); `unseal(state, path)` checks and removes it (a state of an earlier
version, without one, is still read).
"""

from __future__ import annotations

import hashlib
from array import array
from pathlib import Path
from typing import Any

import torch

from scratchlab.errors import CheckpointError
from scratchlab.util.atomic import PLAIN

FLOATS = frozenset((float,))

CHECKSUM = "sha256"


def payload_digest(state: Any, plain_runs: bool = True) -> str:
    """SHA-256 over a nest of dicts, lists, tuples, tensors and plain values.

    With `plain_runs` a list or tuple of floats (a loss history) is hashed as one float64 array,
    one of other plain values through its one `repr`; without it item by item, as checkpoints of
    earlier versions were sealed.
    """
    digest = hashlib.sha256()
    _feed(digest, state, plain_runs)
    return digest.hexdigest()


def _feed(digest: Any, value: Any, plain_runs: bool) -> None:
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous().reshape(-1)
        digest.update(f"T{t.dtype}{tuple(value.shape)}:".encode())
        digest.update(t.view(torch.uint8).numpy())
    elif isinstance(value, dict):
        digest.update(f"D{len(value)}:".encode())
        for key in sorted(value, key=lambda k: (type(k).__name__, repr(k))):
            _feed(digest, key, plain_runs)
            _feed(digest, value[key], plain_runs)
    elif isinstance(value, list | tuple):
        digest.update(f"{type(value).__name__[0]}{len(value)}:".encode())
        if plain_runs and FLOATS.issuperset(map(type, value)):
            digest.update(b"F" + array("d", value).tobytes())
            return
        if plain_runs and PLAIN.issuperset(map(type, value)):
            digest.update(f"P{value!r};".encode())
            return
        for item in value:
            _feed(digest, item, plain_runs)
    else:
        digest.update(f"{type(value).__name__}:{value!r};".encode())


def seal(state: dict[str, Any]) -> dict[str, Any]:
    """`state` with the checksum of its payload (any earlier checksum replaced)."""
    payload = {k: v for k, v in state.items() if k != CHECKSUM}
    return {**payload, CHECKSUM: payload_digest(payload)}


def unseal(state: Any, path: str | Path) -> dict[str, Any]:
    """The payload of a checkpoint; a wrong checksum is a `CheckpointError`.

    A checkpoint of an earlier version has no checksum: it is taken as it is (it was loaded with
    `weights_only`, and `check_state` still checks that it fits).
    """
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, not a "
                              "checkpoint; delete it to start over")
    payload = {k: v for k, v in state.items() if k != CHECKSUM}
    if CHECKSUM not in state:
        return payload
    try:
        sound = (state[CHECKSUM] == payload_digest(payload)  # or sealed by an earlier version
                 or state[CHECKSUM] == payload_digest(payload, plain_runs=False))
    except (RecursionError, RuntimeError, TypeError, ValueError):  # nests or tensors not ours
        sound = False
    if not sound:
        raise CheckpointError(f"checkpoint {path} is damaged (its checksum does not match its "
                              "content); delete it to start over")
    return payload
