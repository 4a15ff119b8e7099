"""Importing scratchlab lets 32 CUDA streams run side by side unless the user said otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

CODE = "import os, scratchlab; print(os.environ['CUDA_DEVICE_MAX_CONNECTIONS'])"


def connections_after_import(value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "CUDA_DEVICE_MAX_CONNECTIONS"}
    if value is not None:
        env["CUDA_DEVICE_MAX_CONNECTIONS"] = value
    done = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True,
                          check=True)
    return done.stdout.strip()


def test_import_sets_32_hardware_queues_and_keeps_the_users_value():
    assert connections_after_import(None) == "32"
    assert connections_after_import("4") == "4"
