"""The Python examples of docs/models.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
from matplotlib import pyplot as plt

from scratchlab.models import registry

DOCS = Path(__file__).resolve().parents[2] / "docs" / "models.md"

matplotlib.use("Agg")


def test_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    assert len(blocks) >= 3
    before = set(registry.model_names())
    try:
        for block in blocks:
            exec(compile(block, str(DOCS), "exec"), {})
    finally:
        for name in set(registry.model_names()) - before:
            registry._REGISTRY.pop(name)
        plt.close("all")
