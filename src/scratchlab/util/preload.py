"""Libraries imported in a background thread while the process waits on something else (a study
imports scikit-learn for its analysis while its runs train on the GPU: 2 s of its analysis on
an H100 host, docs/speed.md)."""

from __future__ import annotations

import importlib
import threading


def import_in_background(*names: str) -> threading.Thread:
    """Start importing the modules `names` in a daemon thread and return it. An import of one
    of them elsewhere meanwhile waits for this one and finds the module loaded; a module that
    fails to import is left for that later import to report."""

    def load() -> None:
        for name in names:
            try:
                importlib.import_module(name)
            except Exception:  # the real import, where the module is used, says why
                return

    thread = threading.Thread(target=load, name="preload", daemon=True)
    thread.start()
    return thread
