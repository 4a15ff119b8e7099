"""Device selection, and the memory a device has free."""

from __future__ import annotations

import os

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


def available_memory(device: torch.device) -> int | None:
    """Free bytes on `device`: a GPU's free memory, the machine's available memory on a CPU."""
    if device.type == "cuda":  # free, plus what this process's allocator holds but does not use
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(torch.cuda.mem_get_info(device)[0]) + cached
    if device.type != "cpu":
        return None
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        try:
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
