"""The code in docs/engine.md runs, and the layer it teaches passes both checks."""

from __future__ import annotations

import re
from pathlib import Path

import torch

DOC = Path(__file__).resolve().parents[2] / "docs" / "engine.md"


def test_engine_doc_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 3
    namespace: dict = {}
    exec(compile("\n".join(blocks), str(DOC), "exec"), namespace)
    scratch, layer = namespace["scratch"], namespace["Scale"](5)
    x = torch.randn(8, 5)
    assert max(scratch.compare_to_autograd(layer, x)) == 0.0
    assert scratch.finite_difference_check(layer, x) < 1e-5
    assert namespace["loss"] < 0.5  # the training example learned its 64 samples
