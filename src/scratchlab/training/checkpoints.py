"""Checkpoint files: `<prefix>_last.pt` after every epoch, `<prefix>_best.pt` at the best test accuracy.

Both are written atomically, so a run killed while saving keeps the previous good file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from scratchlab.errors import CheckpointError
from scratchlab.util import torch_save_atomic


class CheckpointFiles:
    """The two checkpoint paths of one run, from a prefix such as `runs/exp1/model`."""

    def __init__(self, prefix: str | Path) -> None:
        prefix = Path(prefix)
        if prefix.suffix == ".pt":
            prefix = prefix.with_suffix("")
        self.prefix = prefix
        self.last = prefix.with_name(prefix.name + "_last.pt")
        self.best = prefix.with_name(prefix.name + "_best.pt")

    def save_last(self, state: dict[str, Any]) -> None:
        torch_save_atomic(state, self.last)

    def save_best(self, state: dict[str, Any]) -> None:
        torch_save_atomic(state, self.best)

    def load_last(self) -> dict[str, Any] | None:
        """The last state, or None when the run has no checkpoint yet."""
        return load_checkpoint(self.last) if self.last.exists() else None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by the trainer; a damaged file is a `CheckpointError`."""
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except Exception as exc:  # torch raises many types for a damaged file
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc}); delete it to start over") from None
