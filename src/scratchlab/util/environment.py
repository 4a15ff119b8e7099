"""Where a result was made: versions, device and the git commit of the checkout."""

from __future__ import annotations

import os
import platform
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import torch

import scratchlab


@cache
def git_commit() -> str | None:
    """The checkout's commit (with '+dirty' for local changes), or None.

    `$SCRATCHLAB_GIT_COMMIT` wins (a copy of the tree without its git folder sets it).
    """
    if os.environ.get("SCRATCHLAB_GIT_COMMIT"):
        return os.environ["SCRATCHLAB_GIT_COMMIT"]
    root = Path(scratchlab.__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"],
                                capture_output=True, text=True, timeout=5)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True, timeout=5)
        return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def environment(device: torch.device | str) -> dict[str, Any]:
    """Versions and the device's name (the commit is `git_commit()`)."""
    device = torch.device(device)
    name = (torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
            or "cpu")
    return {
        "scratchlab": scratchlab.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(device),
        "device_name": name,
        "platform": platform.platform(),
    }
