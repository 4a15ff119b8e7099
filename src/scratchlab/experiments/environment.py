"""What a result file records about where it was made: versions, device, git commit."""

from __future__ import annotations

import os
import platform
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import torch

import scratchlab
from scratchlab.data.cifar_formats import find_cifar10
from scratchlab.errors import ScratchlabError


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


def data_location(dataset: str, data_root: str | None) -> str | None:
    """The data root a results file records: the user's; else, for CIFAR-10 found in
    `$SCRATCHLAB_DATA`, that source (written as `$SCRATCHLAB_DATA/NAME`)."""
    env = os.environ.get("SCRATCHLAB_DATA")
    if data_root is not None or dataset != "cifar10" or not env:
        return data_root
    try:
        source, _ = find_cifar10([Path(env)])
    except (OSError, ScratchlabError):
        return None
    return None if source is None else os.path.abspath(source.path)


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
