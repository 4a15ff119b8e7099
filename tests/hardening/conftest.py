"""The bad-input harness: run a command on malformed input and hold it to the contract.

Every case runs in a fresh working folder (`work`, also the current folder) that holds the
inputs it needs, with `SCRATCHLAB_DATA` and `SCRATCHLAB_CACHE` pointing inside it (nothing is
downloaded, no cache is written elsewhere). `refuse(argv)` runs `scratchlab.cli.main` in this
process and asserts exit status 2, exactly one line on stderr, no traceback, and a working
folder unchanged file for file (a failure message starts with its category in brackets).
"""

from __future__ import annotations

import hashlib
import os
import stat
import traceback
from pathlib import Path

import pytest

from scratchlab.cli import main


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under `root` (links not followed): kind, mode, size, mtime and content hash."""
    entries: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            info = os.lstat(path)
            rel = str(path.relative_to(root))
            if stat.S_ISLNK(info.st_mode):
                entries[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                entries[rel] = ("dir", info.st_mode)
            else:
                digest = hashlib.sha1(path.read_bytes()).hexdigest()
                entries[rel] = ("file", info.st_mode, info.st_size, info.st_mtime_ns, digest)
    return entries


def changes(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    """What differs between two snapshots: `+new`, `-gone`, `~changed` paths."""
    out = [f"+{p}" for p in sorted(set(after) - set(before))]
    out += [f"-{p}" for p in sorted(set(before) - set(after))]
    out += [f"~{p}" for p in sorted(set(before) & set(after)) if before[p] != after[p]]
    return out


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    """A fresh working folder, made the current one; no CIFAR-10 and a private cache."""
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("SCRATCHLAB_DATA", str(folder / "no-data"))
    monkeypatch.setenv("SCRATCHLAB_CACHE", str(folder / "cache"))
    yield folder
    for path in [folder, *folder.rglob("*")]:  # read-only folders made by a case
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)


@pytest.fixture
def refuse(work, capsys):
    """`refuse(argv)`: run the command; assert exit 2, one stderr line, no traceback, nothing
    written. Returns the line."""

    def check(argv) -> str:
        argv = [str(a) for a in argv]
        before = snapshot(work)
        code, crash = None, None
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code
        except BaseException as exc:
            crash = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        out, err = capsys.readouterr()
        written = changes(before, snapshot(work))
        shown = f"{argv}\nstderr: {err[-1500:]}\nstdout: {out[-500:]}"
        assert crash is None, f"[traceback] {crash[:300]}\n{shown}"
        assert code == 2, f"[exit {code}] {shown}\nwritten: {written[:8]}"
        assert "Traceback" not in err + out, f"[traceback] {shown}"
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, f"[lines {len(lines)}] {shown}"
        assert not written, f"[wrote] {written[:8]}\n{shown}"
        return lines[0]

    return check


def record_data(run_name: str = "r1", seed: int = 42, **config: object) -> dict:
    """The JSON content of a valid results file of a tiny digits run (nothing trained)."""
    from scratchlab.experiments import ExperimentConfig, RunRecord
    from scratchlab.experiments.records import Results

    fields = {"dataset": "digits", "test_split": "valid", "model_type": "mlp", "epochs": 2,
              "batches": 1, "out_dir": "results", **config}
    record = RunRecord(
        config=ExperimentConfig.create(run_name=run_name, seed=seed, **fields),
        results=Results(num_epochs=2, train_loss=[2.0, 1.5], train_acc=[30.0, 60.0],
                        test_loss=[1.8, 1.4], test_acc=[50.0, 70.0]),
        summary={"best_test_acc": 70.0, "final_test_acc": 70.0, "final_train_acc": 60.0,
                 "epochs": 2, "epochs_to_best": 2, "params": 100, "flops": 100})
    return record.to_dict()


def _write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)
    return path


def _results_folder(folder: Path) -> Path:
    import json

    for name, seed in (("r1", 42), ("r1_s43", 43)):
        _write(folder / f"{name}.json", json.dumps(record_data(name, seed)))
    return folder


def _readonly(folder: Path) -> Path:
    folder.mkdir()
    folder.chmod(0o555)
    return folder


# {name} in an argument -> the input it stands for, made in the working folder on demand
PLACES = {
    "missing": lambda w: w / "missing",
    "empty": lambda w: (w / "empty").mkdir() or w / "empty",
    "file": lambda w: _write(w / "file.txt", "some text\n"),
    "garbage": lambda w: _write(w / "garbage.json", "{not json"),
    "binary": lambda w: _write(w / "binary.yaml", bytes(range(256)) * 8),
    "random_pt": lambda w: _write(w / "random.pt", os.urandom(4096)),
    "readonly": lambda w: _readonly(w / "readonly"),
    "nonempty": lambda w: _write(w / "nonempty" / "keep.txt", "x").parent,
    "results": lambda w: _results_folder(w / "results"),
    "data_yaml": lambda w: _write(w / "data.yaml", "path: ds\ntrain: images/train\n"
                                  "val: images/val\nnames: {0: a}\n"),
    "coco": lambda w: _write(w / "coco.json", '{"images": [], "annotations": [], '
                             '"categories": [{"id": 1, "name": "a"}]}'),
}


@pytest.fixture
def fill(work):
    """`fill(argv)`: every `{name}` (alone or before `/rest`) replaced by the input `PLACES`
    makes for it in the working folder."""

    def replace(argv) -> list[str]:
        made: dict[str, Path] = {}
        out = []
        for arg in map(str, argv):
            if arg.startswith("{") and "}" in arg and arg[1:arg.index("}")] in PLACES:
                name, rest = arg[1:arg.index("}")], arg[arg.index("}") + 1:]
                if name not in made:
                    made[name] = PLACES[name](work)
                arg = str(made[name].relative_to(work)) + rest
            out.append(arg)
        return out

    return replace


@pytest.fixture
def make_record():
    """`record_data` as a fixture: the JSON content of a valid results file."""
    return record_data
