"""Damaged, foreign and odd checkpoints of a run that is resumed: refused before anything is
written (also `checkpoints/<run>.config.json`)."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch

from scratchlab.cli import main
from scratchlab.training.checkpoints import CheckpointFiles

RUN = ["run-exp", "--dataset", "digits", "--test-split", "valid", "--epochs", "1", "--batches",
       "2", "-M", "mlp", "-H", "8", "--device", "cpu", "-n", "exp"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two finished runs (hidden width 8 and 16), each with its checkpoints."""
    root = tmp_path_factory.mktemp("trained")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        for out, width in (("out", "8"), ("wide", "16")):
            with pytest.raises(SystemExit) as info:
                main([*RUN, "-o", out, "-H", width])
            assert info.value.code == 0
    finally:
        os.chdir(cwd)
    return root


def flip(offset_fraction: float):
    def change(path):
        data = bytearray(path.read_bytes())
        data[int(len(data) * offset_fraction)] ^= 0x10
        path.write_bytes(bytes(data))

    return change


def resave(edit):
    """Rewrite `_last.pt` through scratchlab's own writer after `edit(state)`: a well-formed
    checkpoint whose content does not fit the run."""

    def change(path):
        state = torch.load(path, weights_only=True)
        edit(state)
        CheckpointFiles(path.parent / "exp").save_last(state)

    return change


def _drop(*keys):
    def edit(state):
        target = state
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return edit


def _model(edit):
    def change(state):
        model = state["trainer"]["model"]
        key = next(iter(model))
        edit(model, key)

    return change


LAST, BEST, CONFIG = "exp_last.pt", "exp_best.pt", "exp.config.json"
# name -> (file under out/checkpoints, change(path))
VARIANTS = {
    "last truncated": (LAST, lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])),
    "last empty": (LAST, lambda p: p.write_bytes(b"")),
    "last random bytes": (LAST, lambda p: p.write_bytes(os.urandom(p.stat().st_size))),
    "last a folder": (LAST, lambda p: (p.unlink(), p.mkdir())),
    "last bit flipped at 30%": (LAST, flip(0.3)),
    "last bit flipped at 55%": (LAST, flip(0.55)),
    "last bit flipped at 80%": (LAST, flip(0.8)),
    "last bit flipped at 95%": (LAST, flip(0.95)),
    "last of another width": (LAST, "wide"),
    "last a bare tensor": (LAST, lambda p: torch.save(torch.zeros(3), p)),
    "last a dict without model": (LAST, lambda p: torch.save({"foo": 1}, p)),
    "last a list": (LAST, lambda p: torch.save([1, 2], p)),
    "last without trainer": (LAST, resave(_drop("trainer"))),
    "last without model": (LAST, resave(_drop("trainer", "model"))),
    "last without rng": (LAST, resave(_drop("rng"))),
    "last model missing a tensor": (LAST, resave(_model(lambda m, k: m.pop(k)))),
    "last model tensor of another shape": (LAST, resave(_model(
        lambda m, k: m.__setitem__(k, torch.zeros(3, 3))))),
    "last model tensor a string": (LAST, resave(_model(lambda m, k: m.__setitem__(k, "w")))),
    "last best_acc text": (LAST, resave(lambda s: s.__setitem__("best_acc", "high"))),
    "best random bytes": (BEST, lambda p: p.write_bytes(os.urandom(p.stat().st_size))),
    "best truncated": (BEST, lambda p: p.write_bytes(p.read_bytes()[:100])),
    "best empty": (BEST, lambda p: p.write_bytes(b"")),
    "best bit flipped": (BEST, flip(0.6)),
    "best of another width": (BEST, "wide"),
    "config truncated": (CONFIG, lambda p: p.write_text(p.read_text()[:50])),
    "config empty": (CONFIG, lambda p: p.write_text("")),
    "config a list": (CONFIG, lambda p: p.write_text("[1, 2]")),
    "config binary": (CONFIG, lambda p: p.write_bytes(bytes(range(256)))),
    "config a folder": (CONFIG, lambda p: (p.unlink(), p.mkdir())),
    "config of another lr": (CONFIG, lambda p: p.write_text(
        json.dumps({**json.loads(p.read_text()), "optim": {
            **json.loads(p.read_text())["optim"], "lr": 0.5}}))),
    "config with infinite lr": (CONFIG, lambda p: p.write_text(
        p.read_text().replace('"lr": 0.001', '"lr": Infinity'))),
    "config deep nesting": (CONFIG, lambda p: p.write_text("[" * 100_000 + "]" * 100_000)),
    "config a symlink": (CONFIG, lambda p: (os.rename(p, p.with_suffix(".real")),
                                            os.symlink(p.with_suffix(".real").name, p))),
}
CASES = list(VARIANTS)


@pytest.mark.parametrize("name", CASES)
def test_checkpoint(name, refuse, work, trained):
    shutil.copytree(trained / "out", work / "out", symlinks=True)
    where, change = VARIANTS[name]
    path = work / "out" / "checkpoints" / where
    if change == "wide":
        shutil.copyfile(trained / "wide" / "checkpoints" / where, path)
    else:
        change(path)
    refuse([*RUN, "-o", "out", "--epochs", "2"])
