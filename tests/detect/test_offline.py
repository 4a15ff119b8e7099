"""Model arguments are checked before anything could be downloaded; user errors are one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from scratchlab.detect.offline import check_model, load_ultralytics
from scratchlab.detect.yolo import check_data
from scratchlab.errors import (
    CheckpointError,
    ConfigError,
    DatasetNotFoundError,
    MissingDependencyError,
)


def test_missing_weights_file_says_where_to_put_it(tmp_path):
    missing = tmp_path / "yolo11n.pt"
    with pytest.raises(CheckpointError) as info:
        check_model(missing)
    message = str(info.value)
    assert "\n" not in message and str(missing) in message and "yolov8n.yaml" in message


def test_model_arguments(tmp_path):
    assert check_model("yolov8n.yaml") == "yolov8n.yaml"
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"")
    assert check_model(weights) == str(weights)
    with pytest.raises(ConfigError, match="neither"):
        check_model("yolov8n")


def test_missing_extra_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ultralytics", None)  # makes `import ultralytics` fail
    with pytest.raises(MissingDependencyError, match=r"scratchlab\[detect\]"):
        load_ultralytics()


def test_cli_missing_weights_exits_2_with_one_line(tmp_path):
    image = tmp_path / "img.png"
    image.write_bytes(b"")
    missing = str(tmp_path / "yolov8n.pt")
    proc = subprocess.run(
        [sys.executable, "-m", "scratchlab", "detect", "predict", missing, str(image)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith("scratchlab: error: weights file") and missing in lines[0]


def test_cli_train_with_missing_weights_is_a_user_error(tmp_path, capsys):
    from scratchlab.cli import main

    data = tmp_path / "data.yaml"
    data.write_text("train: images/train\nval: images/val\nnames: {0: a}\n")
    for split in ("train", "val"):
        (tmp_path / "images" / split).mkdir(parents=True)
    missing = str(tmp_path / "yolo11n.pt")
    with pytest.raises(SystemExit) as info:
        main(["detect", "train", str(data), "--model", missing, "--epochs", "1"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1 and err[0].startswith("scratchlab: error: weights file") and missing in err[0]
    )


def test_dataset_yaml_is_checked_before_ultralytics_sees_it(tmp_path):
    data = tmp_path / "data.yaml"
    with pytest.raises(DatasetNotFoundError, match="not found"):
        check_data(data)
    data.write_text("train: images/train\nval: images/val\nnames: {0: a}\n")
    (tmp_path / "images" / "train").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="val images"):
        check_data(data)
    (tmp_path / "images" / "val").mkdir()
    assert check_data(data) == str(data.resolve())
    with pytest.raises(DatasetNotFoundError, match="no 'test' split"):
        check_data(data, ("test",))
    data.write_text("train: images/train\nval: images/val\n")
    with pytest.raises(ConfigError, match="names"):
        check_data(data)
