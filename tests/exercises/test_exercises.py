"""Exercise mode: workspaces cut from the library, graded by its own checks."""

from __future__ import annotations

import ast
import itertools
import json
import shlex
import shutil
import textwrap
import time
from pathlib import Path

import pytest

from scratchlab.cli import build_parser, main
from scratchlab.errors import ConfigError
from scratchlab.exercises import grader
from scratchlab.exercises.manifest import PARTS_LIST, Part
from scratchlab.exercises.source import (
    STUB,
    ModuleSource,
    find_function,
    has_docstring,
    reference_body,
    replace_body,
    resolve,
)
from scratchlab.exercises.worker import Job
from scratchlab.exercises.workspace import new_workspace, read_workspace

LIMIT = 20.0  # seconds per part: far above a part's time (well under one), short for a test


def _resolves(part: Part) -> bool:
    try:
        for name in part.targets:
            resolve(name)
    except ConfigError:
        return False
    return True


PARTS = [part for part in PARTS_LIST if _resolves(part)]


def fill(directory: Path, bodies: dict[str, str] | None = None) -> None:
    """Write the library's bodies into every stub, or `bodies` (by qualname) where given."""
    bodies = bodies or {}
    for part in PARTS:
        path = directory / part.name / f"{part.name}.py"
        text = path.read_text()
        for target in map(resolve, part.targets):
            body = bodies.get(target.qualname) or reference_body(target)
            text = replace_body(text, target.qualname, body)
        path.write_text(text)


def jobs(directory: Path, names: list[str] | None = None) -> list[Job]:
    found = read_workspace(directory)
    return [Job(p.name, str(p.path), p.defined) for p in found if not names or p.name in names]


def grade(directory: Path, names: list[str] | None = None, limit: float = LIMIT) -> dict:
    return {r.part: r for r in grader.grade(jobs(directory, names), limit)}


@pytest.fixture(scope="session")
def untouched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("exercises") / "workspace"
    new_workspace(directory, PARTS)
    return directory


@pytest.fixture(scope="session")
def filled_once(untouched: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("filled") / "workspace"
    shutil.copytree(untouched, directory)
    fill(directory)
    return directory


@pytest.fixture
def filled(filled_once: Path, tmp_path: Path) -> Path:
    """A fresh copy of the workspace with the reference bodies, for a test to change."""
    directory = tmp_path / "workspace"
    shutil.copytree(filled_once, directory)
    return directory


def test_untouched_workspace_scores_zero(untouched: Path):
    results = grade(untouched)
    assert set(results) == {p.name for p in PARTS}
    for result in results.values():
        assert result.score == 0 and not result.passed, result
        assert "not written yet: NotImplementedError" in result.first_failure


def test_reference_bodies_filled_back_pass_every_part(filled: Path):
    results = grade(filled)
    failed = {name: r.first_failure for name, r in results.items() if not r.passed}
    assert not failed
    assert sum(r.max_score for r in results.values()) >= 3 * len(results)


class _NoSqrt(ast.NodeTransformer):
    """RMSProp without the square root: sqrt(a) -> a, a.sqrt() -> a."""

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("sqrt", "sqrt_"):
            return func.value if not node.args else node.args[0]
        return node


def _without_sqrt(body: str) -> str:
    changed = ast.unparse(_NoSqrt().visit(ast.parse(body)))
    assert changed != ast.unparse(ast.parse(body)), "the reference RMSProp has no sqrt to drop"
    return changed


def test_planted_mistakes_fail_exactly_their_part(filled: Path):
    rmsprop = reference_body(resolve("scratchlab.optim.RMSProp.update"))
    fill(filled, {"ReLU.backward": "return dout", "RMSProp.update": _without_sqrt(rmsprop)})
    results = grade(filled)
    failed = {name: r.first_failure for name, r in results.items() if not r.passed}
    assert set(failed) == {"activations", "rmsprop"}
    assert failed["activations"].startswith("ReLU backward matches autograd: ReLU.backward: ")
    assert "the input gradient differs from autograd" in failed["activations"]
    assert "RMSProp after step 1: parameter 0 differs from the rule" in failed["rmsprop"]
    assert "sqrt(r)" in failed["rmsprop"]
    assert results["activations"].score == results["activations"].max_score - 2  # autograd, fd


def _plant(directory: Path, part: str, qualname: str, body: str) -> None:
    path = directory / part / f"{part}.py"
    path.write_text(replace_body(path.read_text(), qualname, body))


def test_endless_loop_crash_and_import_error_fail_alone(filled: Path):
    _plant(filled, "linear", "Linear.forward", "while True:\n    pass")
    crash = "import os\nif tuple(dout.shape) == (20, 30):\n    os._exit(3)\n"
    _plant(
        filled,
        "dropout",
        "Dropout.backward",
        crash + reference_body(resolve("scratchlab.scratch.Dropout.backward")),
    )
    _plant(
        filled,
        "sequential",
        "Sequential.forward",
        "from scratchlab import scratch\nreturn scratch.Sequential.forward(self, x, **kw)",
    )
    path = filled / "cross_entropy" / "cross_entropy.py"
    path.write_text(path.read_text() + "\ndef broken(:\n")
    names = ["activations", "linear", "cross_entropy", "dropout", "sequential", "mlp"]
    start = time.monotonic()
    results = grade(filled, names, limit=3.0)
    assert time.monotonic() - start < 25
    assert results["activations"].passed and results["mlp"].passed
    linear = results["linear"]
    assert linear.first_failure == (
        "stopped at the time limit of 3 s in check 'Linear forward matches x w^T + b'"
    )
    assert 3.0 <= linear.seconds < 8 and linear.score == 0
    assert "cannot import cross_entropy.py: SyntaxError" in results["cross_entropy"].first_failure
    dropout = results["dropout"]
    assert dropout.first_failure.endswith(
        "process ended (exit status 3) in check 'Dropout backward uses the forward's mask'"
    )
    assert dropout.score == 3  # the checks before the crash still count
    assert "calls the library's own Sequential.forward" in results["sequential"].first_failure


def _pairs(text: str) -> set[tuple[str, str]]:
    """Consecutive pairs of lines that say something (stripped, 20 characters or more)."""
    lines = [line.strip() for line in text.splitlines() if len(line.strip()) >= 20]
    return set(itertools.pairwise(lines))


def test_workspace_holds_no_reference_body(untouched: Path):
    """No body, as text, as a syntax tree, or as two of its lines in a row, is in the workspace.

    (A single line may recur in code the student is given, e.g. `zero_grad` reading a torch
    parameter's `.grad` as `step` does.)
    """
    files = {p: p.read_text() for p in untouched.rglob("*") if p.is_file()}
    bodies = {name: reference_body(resolve(name)) for part in PARTS for name in part.targets}
    stubs = 0
    for path, text in files.items():
        dumps, pairs = set(), _pairs(text)
        if path.suffix == ".py":
            dumps = {
                ast.dump(ast.Module(node.body, []))
                for node in ast.walk(ast.parse(text))
                if isinstance(node, ast.FunctionDef)
            }
            stubs += text.count(STUB)
        for name, body in bodies.items():
            assert textwrap.dedent(body).strip() not in text, (name, path)
            assert ast.dump(ast.parse(body)) not in dumps, (name, path)
            assert not _pairs(body) & pairs, (name, path, _pairs(body) & pairs)
    assert stubs >= len(bodies)  # and abstract methods such as Optimizer.update


def test_stubs_keep_signatures_and_docstrings(untouched: Path):
    for part in read_workspace(untouched):
        tree = ast.parse(part.path.read_text())
        defs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
        for entry in part.defined:
            module, _, qualname = entry.partition(":")
            ours = ModuleSource.load(module).node(qualname)
            theirs = find_function(defs, qualname, str(part.path))  # type: ignore[arg-type]
            assert ast.dump(theirs.args) == ast.dump(ours.args), qualname
            assert ast.dump(theirs.returns) == ast.dump(ours.returns) if ours.returns else True
            if has_docstring(ours):
                assert ast.get_docstring(theirs) == ast.get_docstring(ours), qualname
            assert isinstance(theirs.body[-1], ast.Raise), qualname


def test_check_reference_passes_every_part_in_under_a_minute(capsys: pytest.CaptureFixture):
    start = time.monotonic()
    with pytest.raises(SystemExit) as exit_info:
        main(["check", "--reference", "--json"])
    assert time.monotonic() - start < 60
    report = json.loads(capsys.readouterr().out)
    assert exit_info.value.code == 0, report
    assert report["passed"] and report["score"] == report["max_score"]
    assert [r["part"] for r in report["results"]] == [p.name for p in PARTS_LIST]


def test_check_prints_a_table_and_exits_1(untouched: Path, capsys: pytest.CaptureFixture):
    with pytest.raises(SystemExit) as exit_info:
        main(["check", str(untouched), "--part", "linear,activations"])
    out = capsys.readouterr().out.splitlines()
    assert exit_info.value.code == 1
    assert out[0].split() == ["part", "checks", "time", "first", "failing", "check"]
    assert out[1].split()[:2] == ["activations", "0/12"]
    assert out[2].split()[:2] == ["linear", "0/4"]
    assert out[-1].startswith("0 of 2 parts pass (0/16 checks)")


def test_check_json_for_a_grading_system(untouched: Path, capsys: pytest.CaptureFixture):
    with pytest.raises(SystemExit) as exit_info:
        main(["check", str(untouched), "--part", "dropout", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert exit_info.value.code == 1
    (result,) = report["results"]
    assert report["score"] == 0 and report["max_score"] == len(result["checks"]) == 5
    assert result["part"] == "dropout" and not result["passed"]
    assert result["checks"][0]["message"].startswith("not written yet")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["check", "{missing}"], "no folder"),
        (["check", "{ws}", "--part", "nonsense"], "unknown part nonsense"),
        (["check"], "give a workspace folder or --reference"),
        (["exercise", "new", "{ws}"], "is not an empty folder"),
        (["exercise", "new", "{missing}", "--parts", "linear,bogus"], "unknown part bogus"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(
    argv, message, untouched: Path, tmp_path: Path, capsys: pytest.CaptureFixture
):
    argv = [a.format(ws=untouched, missing=tmp_path / "none") for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    assert len(err.splitlines()) == 1 and message in err


DOC = Path(__file__).resolve().parents[2] / "docs" / "teaching.md"


def test_teaching_doc_commands_parse_and_name_every_part():
    text = DOC.read_text()
    commands = [
        line.strip()
        for line in text.splitlines()
        if line.startswith("    scratchlab ") or line.startswith("    for d in")
    ]
    assert len(commands) >= 6
    parser = build_parser()
    for command in commands:
        if command.startswith("for d in"):
            command = command.split("; do ")[1].split(" >")[0].replace('"$d"', "sub/")
        args = parser.parse_args(shlex.split(command.split(" >")[0])[1:])
        assert callable(args.func), command
    for part in PARTS_LIST:
        assert f"`{part.name}`" in text, part.name


def test_exercise_new_writes_the_parts_asked_for(tmp_path: Path, capsys: pytest.CaptureFixture):
    with pytest.raises(SystemExit) as exit_info:
        main(["exercise", "new", str(tmp_path / "hw1"), "--parts", "linear,sgd"])
    assert exit_info.value.code == 0
    assert [p.name for p in read_workspace(tmp_path / "hw1")] == ["linear", "sgd"]
    assert sorted(p.name for p in (tmp_path / "hw1").iterdir()) == [
        "README.md",
        "exercise.json",
        "linear",
        "sgd",
    ]
    assert "scratchlab check . --part sgd" in (tmp_path / "hw1" / "sgd" / "README.md").read_text()


def test_check_from_inside_the_workspace_names_the_line(
    untouched: Path, monkeypatch, capsys: pytest.CaptureFixture
):
    monkeypatch.chdir(untouched)
    with pytest.raises(SystemExit):
        main(["check", ".", "--part", "linear", "--json"])
    (result,) = json.loads(capsys.readouterr().out)["results"]
    assert "NotImplementedError in Linear.forward at linear.py:" in result["first_failure"]
