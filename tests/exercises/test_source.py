"""Cutting bodies out of source text: stubs, replacement, resolution, imports."""

from __future__ import annotations

import ast
import importlib
import sys
import textwrap

import pytest

from scratchlab.errors import ConfigError
from scratchlab.exercises.manifest import PARTS_LIST, select
from scratchlab.exercises.source import (
    STUB,
    ModuleSource,
    Target,
    import_block,
    reference_body,
    replace_body,
    resolve,
    stubbed,
)
from scratchlab.exercises.workspace import statements

TEXT = textwrap.dedent('''
    import torch


    class Scale:
        """Multiply by a factor."""

        @torch.no_grad()
        def forward(
            self, x: torch.Tensor, factor: float = 2.0  # a trailing comment
        ) -> torch.Tensor:
            # a hint that must go
            y = x * factor
            return y

        def backward(self, dout: torch.Tensor) -> torch.Tensor:
            """Return dL/dx."""
            return dout * 2.0
    ''')


def test_stubbed_keeps_signature_decorator_and_docstring_and_drops_the_body():
    source = ModuleSource.from_text("example", TEXT)
    targets = [Target(q, "example", q) for q in ("Scale.forward", "Scale.backward")]
    text = "\n".join(stubbed(source, source.defs["Scale"], targets))
    assert "@torch.no_grad()" in text and "factor: float = 2.0  # a trailing comment" in text
    assert '"""Return dL/dx."""' in text and '"""Multiply by a factor."""' in text
    assert "hint" not in text and "x * factor" not in text and "dout * 2.0" not in text
    assert text.count(STUB) == 2
    ast.parse(text)


def test_replace_body_puts_a_body_back_under_the_docstring():
    text = replace_body(TEXT, "Scale.backward", "return dout * 3.0")
    assert '"""Return dL/dx."""\n        return dout * 3.0\n' in text
    text = replace_body(text, "Scale.forward", "if True:\n    return x")
    assert ") -> torch.Tensor:\n        if True:\n            return x\n" in text
    assert "hint" not in text
    ast.parse(text)


def test_reference_body_is_the_live_body_after_the_docstring():
    body = reference_body(resolve("scratchlab.scratch.Sequential.backward"))
    assert body.startswith("for layer in reversed(self.layers):")
    assert '"""' not in body


@pytest.mark.parametrize(
    "name",
    [
        "scratchlab.scratch.NoSuchLayer.forward",
        "scratchlab.scratch.ACTIVATIONS",
        "scratchlab.no_such_module.f",
    ],
)
def test_resolve_names_what_it_cannot_find(name):
    with pytest.raises(ConfigError, match="exercise target"):
        resolve(name)


def test_every_part_names_bodies_and_checks():
    assert len({p.name for p in PARTS_LIST}) == len(PARTS_LIST)
    for part in PARTS_LIST:
        assert part.targets and part.checks and part.readme
        assert len({c.name for c in part.checks}) == len(part.checks), part.name
    assert [p.name for p in select(["cross-entropy", "linear"])] == ["linear", "cross_entropy"]


def test_import_block_groups_like_isort():
    lines = import_block(
        {
            ("torch", None, None),
            ("typing", "Any", None),
            ("scratchlab.errors", "ShapeError", None),
            ("scratchlab.errors", "ConfigError", None),
            ("torch.nn.functional", None, "F"),
        }
    )
    assert lines == [
        "from typing import Any",
        "",
        "import torch",
        "import torch.nn.functional as F",
        "",
        "from scratchlab.errors import ConfigError, ShapeError",
    ]


def test_statements_leave_out_raises_and_short_ones():
    found = statements(
        "super().__init__()\nraise ValueError('a long message, but a raise')\n"
        "self.grads['w'] += dout.T @ x\n"
    )
    assert found == {"self.grads['w'] += dout.T @ x"}


def test_a_target_resolves_from_its_file_when_its_module_does_not_import(monkeypatch):
    real = importlib.import_module
    name = "scratchlab.studies.gradient_descent"

    def broken(module: str, package: str | None = None):
        if module == name:
            raise ImportError(f"pretend {module} is broken")
        return real(module, package)

    monkeypatch.setattr(importlib, "import_module", broken)
    monkeypatch.delitem(sys.modules, name, raising=False)
    target = resolve(f"{name}.descend")
    assert (target.module, target.qualname) == (name, "descend")
    assert "DIVERGED" in reference_body(target)
    with pytest.raises(ConfigError, match="cannot resolve"):
        resolve(f"{name}.no_such_function")
