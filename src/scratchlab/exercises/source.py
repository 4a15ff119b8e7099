"""Exercise bodies read from the library's live source, and student files cut from it.

A target is named by a dotted path through the public packages (`scratchlab.scratch.ReLU.forward`);
it is imported, and its defining module's source is parsed with `ast`. A student file holds the
owners of a part's targets (their classes, or the functions themselves) with each target's body
replaced by `raise NotImplementedError`, the module-level code they use copied beside them, and
the imports they need.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import io
import sys
import textwrap
import tokenize
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from scratchlab.errors import ConfigError

STUB = "raise NotImplementedError"
Import = tuple[str, str | None, str | None]  # (module, name or None for `import module`, alias)


@dataclass(frozen=True)
class Target:
    """An exercise body: `name` as the manifest spells it, its defining module and qualname."""

    name: str
    module: str
    qualname: str

    @property
    def owner(self) -> str:
        """The top-level name that holds the body (the class, or the function itself)."""
        return self.qualname.split(".")[0]


def _import_prefix(parts: list[str]) -> tuple[ModuleType, list[str]]:
    """The longest importable module prefix of `parts`, and the attribute path after it."""
    module = importlib.import_module(parts[0])
    for i in range(1, len(parts)):
        candidate = ".".join(parts[: i + 1])
        try:
            module = importlib.import_module(candidate)
        except ModuleNotFoundError as exc:
            if exc.name != candidate:
                raise
            return module, parts[i:]
    return module, []


def resolve(name: str) -> Target:
    """The target that `name` (e.g. `scratchlab.optim.RMSProp.update`) refers to, as defined.

    The module is imported; should that fail, its source file is read instead, where `name`
    spells the defining module itself (so a part can be cut while an import elsewhere is broken).
    """
    try:
        module, attrs = _import_prefix(name.split("."))
        obj = module
        for attr in attrs:
            obj = getattr(obj, attr)
    except (ImportError, AttributeError) as exc:
        found = _locate(name)
        if found is None:
            raise ConfigError(f"cannot resolve exercise target {name}: {exc}") from None
        return found
    func = inspect.unwrap(obj)
    qualname = getattr(func, "__qualname__", "")
    if not inspect.isfunction(func) or "<" in qualname or qualname.count(".") > 1:
        raise ConfigError(f"exercise target {name} is not a top-level function or a method")
    if not name.endswith("." + qualname):
        raise ConfigError(f"exercise target {name} is defined elsewhere, as {qualname}")
    return Target(name, func.__module__, qualname)


def _spec_source(module: str) -> tuple[str, str] | None:
    """(source text, package) of a module's file, found without importing the module."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not (spec.origin or "").endswith(".py"):
        return None
    return Path(spec.origin).read_text(), spec.parent  # type: ignore[arg-type]


def _locate(name: str) -> Target | None:
    """`name` as a function or method of a module's file, read without importing the module."""
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        module, qualname = ".".join(parts[:i]), ".".join(parts[i:])
        found = _spec_source(module) if qualname.count(".") <= 1 else None
        if found is not None:
            source = ModuleSource.from_text(module, *found)
            try:
                source.node(qualname)
            except ConfigError:
                return None
            return Target(name, module, qualname)
    return None


@dataclass
class ModuleSource:
    """A module's source lines and its top-level definitions and imports."""

    name: str
    lines: list[str]
    defs: dict[str, ast.stmt]
    imports: dict[str, Import]

    @classmethod
    def load(cls, name: str) -> ModuleSource:
        """The live source of module `name`: imported, or its file if the import fails."""
        try:
            module = sys.modules.get(name) or importlib.import_module(name)
        except ImportError:
            found = _spec_source(name)
            if found is None:
                raise
            return cls.from_text(name, *found)
        return cls.from_text(name, inspect.getsource(module), module.__package__ or "")

    @classmethod
    def from_text(cls, name: str, text: str, package: str = "") -> ModuleSource:
        tree = ast.parse(text)
        defs: dict[str, ast.stmt] = {}
        imports: dict[str, Import] = {}
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                defs[node.name] = node
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for leaf in ast.walk(target):
                        if isinstance(leaf, ast.Name):
                            defs[leaf.id] = node
            elif isinstance(node, ast.Import | ast.ImportFrom):
                imports.update(_import_lines(node, package))
        return cls(name, text.splitlines(), defs, imports)

    def segment(self, node: ast.stmt) -> list[str]:
        """The full source lines of a top-level statement, decorators included."""
        decorators = getattr(node, "decorator_list", [])
        start = min([node.lineno, *(d.lineno for d in decorators)])
        return self.lines[start - 1 : node.end_lineno]

    def node(self, qualname: str) -> ast.FunctionDef:
        """The function or method node of `qualname` (`ReLU.forward` or `descend`)."""
        return find_function(self.defs, qualname, self.name)


def _import_lines(node: ast.Import | ast.ImportFrom, package: str) -> dict[str, Import]:
    """Bound name -> the import that binds it (`__future__` imports left out)."""
    bound: dict[str, Import] = {}
    for alias in node.names:
        if isinstance(node, ast.Import):
            bound[alias.asname or alias.name.split(".")[0]] = (alias.name, None, alias.asname)
        elif node.module != "__future__":
            relative = "." * node.level + (node.module or "")
            module = importlib.util.resolve_name(relative, package) if node.level else relative
            bound[alias.asname or alias.name] = (module, alias.name, alias.asname)
    return bound


def _section(module: str) -> int:
    root = module.split(".")[0]
    return 0 if root in sys.stdlib_module_names else 2 if root == "scratchlab" else 1


def import_block(imports: set[Import], width: int = 100) -> list[str]:
    """isort-style import lines: standard library, third party, scratchlab; one per module."""
    sections: list[list[str]] = [[], [], []]
    for module, _, alias in sorted(i for i in imports if i[1] is None):
        sections[_section(module)].append(f"import {module}" + (f" as {alias}" if alias else ""))
    by_module: dict[str, list[str]] = {}
    for module, name, alias in sorted(i for i in imports if i[1] is not None):
        by_module.setdefault(module, []).append(name + (f" as {alias}" if alias else ""))
    for module, names in by_module.items():
        line = f"from {module} import {', '.join(names)}"
        if len(line) > width:
            line = f"from {module} import (\n" + "".join(f"    {n},\n" for n in names) + ")"
        sections[_section(module)].append(line)
    blocks = ["\n".join(section) for section in sections if section]
    return "\n\n".join(blocks).splitlines()


def find_function(defs: dict[str, ast.stmt], qualname: str, where: str) -> ast.FunctionDef:
    """The function node of `qualname` among top-level `defs`."""
    owner, _, method = qualname.partition(".")
    node = defs.get(owner)
    if node is not None and method and isinstance(node, ast.ClassDef):
        node = next(
            (n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == method), None
        )
    if not isinstance(node, ast.FunctionDef):
        raise ConfigError(f"{where} defines no function {qualname}")
    return node


def _colon_line(lines: list[str], node: ast.FunctionDef) -> int:
    """The line (1-based) of the colon that ends the `def` header."""
    header = "\n".join(lines[node.lineno - 1 : node.body[0].end_lineno]) + "\n"
    depth = 0
    for tok in tokenize.generate_tokens(io.StringIO(header).readline):
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        elif tok.type == tokenize.OP and tok.string == ":" and depth == 0:
            return node.lineno + tok.start[0] - 1
    raise ValueError(f"no header colon in def {node.name}")


def has_docstring(node: ast.FunctionDef) -> bool:
    first = node.body[0]
    return (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )


def body_range(lines: list[str], node: ast.FunctionDef) -> tuple[int, int]:
    """Lines (1-based, inclusive) of a function's body after its docstring; may be empty."""
    if has_docstring(node):
        return node.body[0].end_lineno + 1, node.end_lineno  # type: ignore[operator]
    colon = _colon_line(lines, node)
    if node.body[0].lineno == colon:
        raise ValueError(f"def {node.name} has its body on the header line")
    return colon + 1, node.end_lineno  # type: ignore[return-value]


def body_indent(lines: list[str], node: ast.FunctionDef) -> str:
    """The indentation of the function's body."""
    return " " * (node.body[0].col_offset if node.body else node.col_offset + 4)


def reference_body(target: Target) -> str:
    """The live source of a target's body after its docstring, dedented."""
    source = ModuleSource.load(target.module)
    node = source.node(target.qualname)
    start, end = body_range(source.lines, node)
    return textwrap.dedent("\n".join(source.lines[start - 1 : end]))


def replace_body(text: str, qualname: str, body: str) -> str:
    """`text` (a module's source) with the body of `qualname` after its docstring set to `body`."""
    lines = text.splitlines()
    defs = {
        n.name: n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef | ast.ClassDef)
    }
    node = find_function(defs, qualname, "the file")  # type: ignore[arg-type]
    start, end = body_range(lines, node)
    indent = body_indent(lines, node)
    new = textwrap.indent(textwrap.dedent(body).strip("\n"), indent).splitlines()
    return "\n".join(lines[: start - 1] + new + lines[end:]) + "\n"


def _inherited_doc(module: str, qualname: str) -> str | None:
    """The docstring a method inherits from a scratchlab base class, if it has none itself."""
    owner, _, method = qualname.partition(".")
    cls = getattr(sys.modules.get(module), owner, None)
    for base in inspect.getmro(cls)[1:] if method and inspect.isclass(cls) else []:
        func = base.__dict__.get(method)
        if func is not None and base.__module__.startswith("scratchlab") and func.__doc__:
            return inspect.cleandoc(func.__doc__)
    return None


def stubbed(source: ModuleSource, node: ast.stmt, targets: list[Target]) -> list[str]:
    """The lines of top-level `node` with the bodies of `targets` (inside it) stubbed."""
    decorators = getattr(node, "decorator_list", [])
    first = min([node.lineno, *(d.lineno for d in decorators)])
    segment = source.lines[first - 1 : node.end_lineno]
    funcs = sorted([(source.node(t.qualname), t) for t in targets], key=lambda p: -p[0].lineno)
    for func, target in funcs:
        start, end = body_range(source.lines, func)
        indent = body_indent(source.lines, func)
        stub = [indent + STUB]
        doc = None if has_docstring(func) else _inherited_doc(source.name, target.qualname)
        if doc:
            stub = textwrap.indent(f'"""{doc}"""', indent).splitlines() + stub
        segment[start - first : end - first + 1] = stub
    return segment


def loaded_names(node: ast.AST) -> set[str]:
    """Every plain name that `node` mentions."""
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
