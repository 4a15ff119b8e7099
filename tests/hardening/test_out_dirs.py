"""Output folders that cannot hold a run: refused in one line before anything is trained."""

from __future__ import annotations

import os

import pytest

RUN = ["run-exp", "-n", "a", "-M", "mlp", "-H", "8", "--dataset", "digits", "--epochs", "1"]


def make(work, kind):
    if kind == "dangling link":
        os.symlink(work / "nowhere" / "x", work / "out")
    elif kind == "loop of links":
        os.symlink(work / "out", work / "out")
    elif kind == "file named checkpoints":
        (work / "out").mkdir()
        (work / "out" / "checkpoints").write_text("x")
    elif kind == "results file is a folder":
        (work / "out" / "a.json").mkdir(parents=True)
    return "out/sub" if kind == "loop of links" else "out"


CASES = ["dangling link", "loop of links", "file named checkpoints", "results file is a folder"]


@pytest.mark.parametrize("kind", CASES)
def test_out_dir_that_cannot_hold_a_run(kind, work, refuse):
    out = make(work, kind)
    line = refuse([*RUN, "-o", out])
    assert "out" in line, line
