"""Bad results JSON files: every command that reads them refuses in one line naming the file."""

from __future__ import annotations

import json
import os

import pytest


def _set(path: str, value):
    """A change of a valid record: the value at `path` (dots) set, or removed when `...`."""

    def change(data):
        *parents, last = path.split(".")
        target = data
        for key in parents:
            target = target[key]
        if value is ...:
            del target[last]
        else:
            target[last] = value
        return data

    return change


# name -> a change of a valid record (a function), or the file's whole content (str or bytes)
VARIANTS = {
    "list top level": lambda d: [d],
    "string top level": '"hello"',
    "number top level": "42",
    "null top level": "null",
    "empty file": "",
    "binary": bytes(range(256)) * 4,
    "truncated": lambda d: json.dumps(d)[:200],
    "utf-16": lambda d: json.dumps(d).encode("utf-16"),
    "deep nesting": "[" * 100_000 + "]" * 100_000,
    "integer of 5,000 digits": lambda d: json.dumps(d).replace('"params": 100',
                                                               '"params": 1' + "0" * 5000),
    "deep nesting in env": lambda d: json.dumps(d)[:-1] + ', "extra": ' + "[" * 100_000
    + "]" * 100_000 + "}",
    "config a list": _set("config", [1, 2]),
    "config missing": _set("config", ...),
    "config null": _set("config", None),
    "config text": _set("config", "lr: 0.1"),
    "config without run_name": _set("config.run_name", ...),
    "run_name a number": _set("config.run_name", 123),
    "run_name with slash": _set("config.run_name", "../x"),
    "config unknown field": _set("config.colour", "red"),
    "config lr text": _set("config.optim.lr", "fast"),
    "config epochs 0": _set("config.budget.epochs", 0),
    "summary a list": _set("summary", [1, 2]),
    "summary best_test_acc text": _set("summary.best_test_acc", "high"),
    "summary best_test_acc a list": _set("summary.best_test_acc", [70.0]),
    "summary best_test_acc true": _set("summary.best_test_acc", True),
    "summary epochs text": _set("summary.epochs", "2"),
    "results a list": _set("results", [1, 2]),
    "results train_loss text": _set("results.train_loss", ["a", "b"]),
    "results train_acc number text": _set("results.train_acc", ["30", "60"]),
    "results num_epochs negative": _set("results.num_epochs", -1),
    "results num_epochs text": _set("results.num_epochs", "two"),
    "results without test_acc": _set("results.test_acc", ...),
    "results lengths differ": _set("results.test_acc", [1.0, 2.0, 3.0, 4.0, 5.0]),
    "status unknown": _set("status", "weird"),
    "ok without results": _set("results", None),
    "error a number": _set("error", 123),
    "timings a list": _set("timings", [1]),
    "timings train_seconds text": _set("timings.train_seconds", "fast"),
    "schema from the future": _set("schema", 99),
    "schema text": _set("schema", "2"),
    "env a list": _set("env", [1]),
    "unknown top-level key": _set("colour", "red"),
    "symlink": "symlink",
    "dangling symlink": "dangling",
    "a folder": "folder",
}
COMMANDS = ["show", "ls", "compare", "report", "plot"]
CASES = [(name, command) for name in VARIANTS for command in COMMANDS
         if name != "a folder" or command == "show"]


def write_variant(folder, name, make_record):
    """A results folder with a valid r1.json and the bad r2.json; returns r2's path."""
    folder.mkdir()
    (folder / "r1.json").write_text(json.dumps(make_record("r1")))
    bad = folder / "r2.json"
    variant = VARIANTS[name]
    if variant == "symlink":
        (folder.parent / "elsewhere.json").write_text(json.dumps(make_record("r2")))
        os.symlink("../elsewhere.json", bad)
    elif variant == "dangling":
        os.symlink("../nowhere.json", bad)
    elif variant == "folder":
        bad.mkdir()
        (bad / "inner.txt").write_text("x")
    else:
        content = variant(make_record("r2")) if callable(variant) else variant
        if not isinstance(content, str | bytes):
            content = json.dumps(content)
        bad.write_bytes(content.encode() if isinstance(content, str) else content)
    return bad


@pytest.mark.parametrize(("name", "command"), CASES, ids=lambda v: str(v)[:40])
def test_results_file(name, command, refuse, work, make_record):
    bad = write_variant(work / "runs", name, make_record)
    argv = {"show": ["results", "show", bad], "ls": ["results", "ls", "runs"],
            "compare": ["results", "compare", "runs"], "report": ["report", "runs"],
            "plot": ["plot", "runs", "*"]}[command]
    line = refuse(argv)
    assert "r2.json" in line, line
