"""The README's Python example runs and its gradient check prints zeros."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_engine_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(blocks[0], "README.md", "exec"), {})
    lines = printed.getvalue().strip().splitlines()
    first, last = lines[0], lines[-1]
    diffs = [float(v) for v in first.strip("[]").split(",")]
    assert len(diffs) >= 2 and max(diffs) < 1e-10
    assert float(last.split(":")[1]) < 1.0
