"""`scratchlab exercise new`: a student workspace cut from the library's live source.

DIR/README.md              the parts and how to check them
DIR/exercise.json          what the grader reads: each part's file and bodies
DIR/<part>/<part>.py       the part's classes or functions, the bodies to write stubbed
DIR/<part>/README.md       what to implement and how to check it
"""

from __future__ import annotations

import ast
import contextlib
import json
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scratchlab import __version__
from scratchlab.errors import ConfigError
from scratchlab.exercises.manifest import PARTS, PARTS_LIST, Part
from scratchlab.exercises.source import (
    Import,
    ModuleSource,
    Target,
    import_block,
    loaded_names,
    reference_body,
    resolve,
    stubbed,
)
from scratchlab.util.folders import check_out_dir

FORMAT = 1
MANIFEST = "exercise.json"
MIN_SECRET = 24  # characters: shorter statements (`super().__init__()`) give little away


@dataclass(frozen=True)
class Secrets:
    """What a workspace must not show: every part's owners (module, name) and body statements."""

    owners: frozenset[tuple[str, str]]
    statements: frozenset[str]

    def hides(self, source: ModuleSource, name: str) -> bool:
        """Whether the definition `name` of `source` must be imported rather than copied."""
        if (source.name, name) in self.owners or _public_class(source, name):
            return True
        return bool(statements("\n".join(source.segment(source.defs[name]))) & self.statements)


_COMPOUND = (ast.If, ast.For, ast.While, ast.With, ast.Try, ast.FunctionDef, ast.ClassDef)


def statements(code: str) -> set[str]:
    """The simple statements of `code` that would give a body away, as `ast.unparse` writes
    them: not raises (error messages) and none shorter than `MIN_SECRET` characters."""
    found = set()
    for node in ast.walk(ast.parse(textwrap.dedent(code))):
        if isinstance(node, ast.stmt) and not isinstance(node, (*_COMPOUND, ast.Raise)):
            text = ast.unparse(node)
            if len(text) >= MIN_SECRET:
                found.add(text)
    return found


def exercise_secrets() -> Secrets:
    """The owners and body statements of every part's targets (those that resolve)."""
    owners: set[tuple[str, str]] = set()
    found: set[str] = set()
    for part in PARTS_LIST:
        for name in part.targets:
            with contextlib.suppress(ConfigError):
                target = resolve(name)
                owners.add((target.module, target.owner))
                found |= statements(reference_body(target))
    return Secrets(frozenset(owners), frozenset(found))


Key = tuple[str, str]  # (module, top-level name)


def _collect(part: Part, secrets: Secrets) -> tuple[dict[Key, list[Target]], dict[str, Import]]:
    """The definitions a part's file holds (each with the targets it stubs) and its imports."""
    targets = [resolve(name) for name in part.targets]
    chosen: dict[Key, list[Target]] = {}
    for target in targets:
        chosen.setdefault((target.module, target.owner), []).append(target)
    imports: dict[str, Import] = {}
    todo = list(chosen)
    while todo:
        module, name = todo.pop()
        source = ModuleSource.load(module)
        for used in sorted(loaded_names(source.defs[name]) - {name}):
            key = (module, used)
            found = source.imports.get(used)
            if key in chosen or (found is None and used not in source.defs):
                continue  # defined here already, or local, or a builtin
            if found is None and secrets.hides(source, used):
                found = (module, used, None)
            if found is None:
                chosen[key] = []
                todo.append(key)
            elif imports.setdefault(used, found) != found:
                raise ConfigError(f"part {part.name} needs two different imports of {used}")
    names = [name for _, name in chosen]
    if len(set(names)) < len(names):
        raise ConfigError(f"part {part.name} needs two definitions of one name: {names}")
    return chosen, {name: line for name, line in imports.items() if name not in names}


def part_file(part: Part, secrets: Secrets) -> str:
    """The student's file of `part`: its owners with the target bodies stubbed, self-contained.

    Module-level functions, values and private classes that the owners use are copied beside
    them. Imported instead from the library: public classes (base classes such as `Layer`), the
    owners of every part's bodies and anything that repeats a line of one (`secrets`).
    """
    chosen, imports = _collect(part, secrets)
    blocks: list[str] = []
    for module in dict.fromkeys(module for module, _ in chosen):
        source = ModuleSource.load(module)
        keys = [k for k in chosen if k[0] == module]
        for key in sorted(keys, key=lambda k: source.defs[k[1]].lineno):
            text = "\n".join(stubbed(source, source.defs[key[1]], chosen[key]))
            if text not in blocks:  # one statement may define several names
                blocks.append(text)
    head = [*_header(part), "from __future__ import annotations", ""]
    head += import_block(set(imports.values()))
    return "\n".join([*head, "", "", "\n\n\n".join(blocks)]) + "\n"


def _public_class(source: ModuleSource, name: str) -> bool:
    return isinstance(source.defs[name], ast.ClassDef) and not name.startswith("_")


def _header(part: Part) -> list[str]:
    return [
        f'"""Exercise {part.name}: {part.title}.',
        "",
        "Write every body that raises NotImplementedError (README.md says what each should do).",
        f"Check your work with `scratchlab check <workspace> --part {part.name}`.",
        f"Cut from scratchlab {__version__} by `scratchlab exercise new`.",
        '"""',
        "",
    ]


def part_readme(part: Part, file_name: str) -> str:
    """The README of one part: what to implement, the checks it is graded by, how to check."""
    functions = "\n".join(f"- `{resolve(t).qualname}`" for t in part.targets)
    checks = "\n".join(f"{i}. {check.name}" for i, check in enumerate(part.checks, start=1))
    return (
        f"# {part.title} (`{part.name}`)\n\n{part.readme}\n\n"
        f"## Write these bodies in `{file_name}`\n\n{functions}\n\n"
        "Keep the signatures and docstrings; the rest of the file is given.\n\n"
        f"## Check\n\nFrom the workspace folder:\n\n    scratchlab check . --part {part.name}\n\n"
        f"The checks, in the order they run:\n\n{checks}\n"
    )


def workspace_readme(parts: list[Part]) -> str:
    rows = "\n".join(f"| `{p.name}` | {p.title} | `{p.name}/{p.name}.py` |" for p in parts)
    return (
        "# Exercises: build the engine yourself\n\n"
        "Each part is a folder with a README (what to write) and a Python file whose marked "
        "bodies raise `NotImplementedError`. Write them, then check from this folder:\n\n"
        "    scratchlab check .                 # every part: a table of checks passed\n"
        "    scratchlab check . --part linear   # one part\n\n"
        "The parts are independent: each is graded with the library's own versions of "
        "everything else.\n\n| part | what | file |\n|---|---|---|\n" + rows + "\n"
    )


def new_workspace(directory: Path, parts: list[Part]) -> list[Path]:
    """Write a student workspace for `parts` into `directory` (new or empty); the files written."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ConfigError(f"{directory} exists and is not an empty folder; choose a new folder")
    check_out_dir(directory, "workspace folder")
    secrets = exercise_secrets()
    files = {}
    entries = []
    for part in parts:
        name = f"{part.name}/{part.name}.py"
        files[name] = part_file(part, secrets)
        files[f"{part.name}/README.md"] = part_readme(part, f"{part.name}.py")
        targets = [resolve(t) for t in part.targets]
        entries.append(
            {
                "name": part.name,
                "file": name,
                "targets": list(part.targets),
                "functions": [t.qualname for t in targets],
                "defined": [f"{t.module}:{t.qualname}" for t in targets],
            }
        )
    files["README.md"] = workspace_readme(parts)
    files[MANIFEST] = (
        json.dumps({"format": FORMAT, "scratchlab": __version__, "parts": entries}, indent=2) + "\n"
    )
    written = []
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


@dataclass(frozen=True)
class WorkspacePart:
    """A part as a workspace records it."""

    name: str
    path: Path
    defined: tuple[str, ...]


def read_workspace(directory: Path) -> list[WorkspacePart]:
    """The parts of the workspace in `directory`, as its exercise.json lists them."""
    manifest = directory / MANIFEST
    if not directory.is_dir():
        raise ConfigError(f"no folder {directory}; make a workspace with scratchlab exercise new")
    if not manifest.is_file():
        raise ConfigError(
            f"{directory} is not an exercise workspace (no {MANIFEST}); make one with "
            "scratchlab exercise new DIR"
        )
    try:
        data: dict[str, Any] = json.loads(manifest.read_text())
        parts = [
            WorkspacePart(p["name"], (directory / p["file"]).resolve(), tuple(p["defined"]))
            for p in data["parts"]
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{manifest} is not a valid workspace manifest ({exc})") from None
    unknown = [p.name for p in parts if p.name not in PARTS]
    if unknown:
        raise ConfigError(f"{manifest} lists parts this scratchlab does not know: {unknown}")
    return parts
