"""Device selection."""

from __future__ import annotations

import torch

from scratchlab.errors import ConfigError


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn `auto`/`cpu`/`cuda`/`cuda:N` (or None = auto) into a torch.device.

    `auto` picks CUDA when available, else CPU. Asking for CUDA on a machine without it is a
    `ConfigError`, not a crash deep inside a run.
    """
    name = str(device) if isinstance(device, torch.device) else (device or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device {name!r} was asked for but CUDA is not available; use --device cpu or auto"
        )
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
