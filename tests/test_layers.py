"""The import layers of DESIGN.md hold: a module imports only its own layer or a lower one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "scratchlab"

LAYER = {
    "errors": 1,
    "util": 1,
    "__init__": 1,
    "scratch": 2,
    "optim": 2,
    "data": 2,
    "kernels": 2,
    "models": 3,
    "classifiers": 3,
    "training": 3,
    "viz": 4,
    "experiments": 5,
    "studies": 6,
    "detect": 6,
    "rl": 6,
    "exercises": 6,
    "cli": 7,
    "__main__": 7,
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
        assert target != "cli" or area in ("__main__", "cli"), f"{path.name} imports the CLI"
        assert LAYER[target] <= own or target == area, (
            f"{path.relative_to(SRC)} (layer {own}) imports {module} (layer {LAYER[target]})"
        )
        if area in TORCH_ONLY:
            assert target in {"errors", area, "util"}, f"{path.relative_to(SRC)} imports {module}"


PUBLIC_ONLY = {"experiments", "training"}  # what studies may use of these: their `__all__`


@pytest.mark.parametrize(
    "path", sorted((SRC / "studies").rglob("*.py")), ids=lambda p: str(p.relative_to(SRC))
)
def test_studies_import_only_public_names_of_experiments_and_training(path):
    import importlib

    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.ImportFrom) and node.module and node.level == 0):
            continue
        parts = node.module.split(".")
        if parts[0] != "scratchlab" or len(parts) < 2 or parts[1] not in PUBLIC_ONLY:
            continue
        package = ".".join(parts[:2])
        public = set(importlib.import_module(package).__all__)
        for alias in node.names:
            assert node.module == package, f"{path.name} imports the module {node.module}"
            assert alias.name in public and not alias.name.startswith("_"), (
                f"{path.name} imports {node.module}.{alias.name}, not in {package}.__all__"
            )


def test_the_lazy_stubs_name_real_objects():
    """Every package exports with one lazy stub (`__init__.pyi`); each name in it exists."""
    import importlib

    for stub in SRC.rglob("__init__.pyi"):
        package = ".".join(("scratchlab", *stub.parent.relative_to(SRC).parts))
        module = importlib.import_module(package)
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{package}.{name}"
