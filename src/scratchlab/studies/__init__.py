"""Packaged studies: reproducible experiments with their analysis and report section.

    scratchlab study list
    from scratchlab.studies import inductive_bias; result = inductive_bias.run(quick=True)

Names are imported on first use, so the `scratchlab` command starts fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "StudyResult": "scratchlab.studies.base",
    "get_study": "scratchlab.studies.registry",
    "study_names": "scratchlab.studies.registry",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'scratchlab.studies' has no attribute {name!r}")
