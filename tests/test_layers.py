"""The import layers of DESIGN.md hold: a module imports only its own layer or a lower one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "scratchlab"

LAYER = {
    "errors": 1, "util": 1, "__init__": 1,
    "scratch": 2, "optim": 2, "data": 2,
    "models": 3, "classifiers": 3, "training": 3,
    "viz": 4,
    "experiments": 5,
    "studies": 6, "detect": 6, "rl": 6,
    "cli": 7, "__main__": 7,
}
# Only torch (and numpy/python) below scratchlab for the from-scratch engines.
TORCH_ONLY = {"scratch", "optim"}


def top_area(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "scratchlab" else None


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def source_files():
    return sorted(p for p in SRC.rglob("*.py"))


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_module_imports_respect_layers(path):
    area = path.relative_to(SRC).parts[0].removesuffix(".py")
    own = LAYER[area]
    for module in imports_of(path):
        target = top_area(module)
        if target is None:
            continue
        assert target != "cli" or area == "__main__", f"{path.name} imports the CLI"
        assert LAYER[target] <= own or target == area, (
            f"{path.relative_to(SRC)} (layer {own}) imports {module} (layer {LAYER[target]})"
        )
        if area in TORCH_ONLY:
            assert target in {"errors", area, "util"}, f"{path.relative_to(SRC)} imports {module}"
