"""Shared by the study tests: running a study's example notebook."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_notebook(name: str, out_dir: Path) -> str:
    """Execute examples/<name>.ipynb with `out_dir` set in its parameters cell; its text outputs."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(REPO / "examples" / f"{name}.ipynb", as_version=4)
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    cell.source += f"\nout_dir = {str(out_dir)!r}"
    nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(out_dir)}}
    ).execute()
    return "".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )
