"""A YOLO `.pt` argument must be a regular file (a symlink to one is followed); a folder, a pipe
or a missing path is refused before ultralytics could load anything."""

from __future__ import annotations

import os

import pytest

from scratchlab.detect.offline import TRUST_NOTE, check_model
from scratchlab.errors import CheckpointError


def test_a_folder_is_refused(tmp_path):
    folder = tmp_path / "best.pt"
    folder.mkdir()
    with pytest.raises(CheckpointError, match="is a folder"):
        check_model(folder)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_pipe_is_refused(tmp_path):
    pipe = tmp_path / "w.pt"
    os.mkfifo(pipe)
    with pytest.raises(CheckpointError, match="not a regular file"):
        check_model(pipe)


def test_a_symlink_is_followed_to_its_file(tmp_path):
    weights = tmp_path / "real.pt"
    weights.write_bytes(b"")
    link = tmp_path / "link.pt"
    link.symlink_to(weights)
    assert check_model(link) == str(link)


def test_the_trust_note_says_a_pt_file_is_code():
    assert "runs any code" in TRUST_NOTE and "trust" in TRUST_NOTE


@pytest.mark.parametrize("argv", [["detect", "--help"], ["detect", "predict", "--help"]])
def test_help_says_weights_are_code(argv, capsys):
    from scratchlab.cli import main

    with pytest.raises(SystemExit):
        main(argv)
    assert "runs the code it holds" in " ".join(capsys.readouterr().out.split())
