"""Model arguments are checked before anything could be downloaded; user errors are one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from scratchlab.detect.data_file import check_data
from scratchlab.detect.offline import check_model, load_ultralytics
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


@pytest.mark.parametrize("text, field", [
    ("path: 3\ntrain: a\nval: a\nnames: [x]\n", "'path'"),
    ("train: 5\nval: a\nnames: [x]\n", "'train'"),
    ("train: a\nval: [a, 1]\nnames: [x]\n", "'val"),
    ("train: a\nval: a\nnames: x\n", "'names'"),
    ("train: a\nval: a\nnc: two\n", "'nc'"),
    ("3: a\ntrain: a\nval: a\n", "names"),
])
def test_a_dataset_yaml_field_of_the_wrong_type_is_one_line_naming_it(tmp_path, text, field):
    (tmp_path / "a").mkdir()
    data = tmp_path / "data.yaml"
    data.write_text(text)
    with pytest.raises(ConfigError) as info:
        check_data(data)
    assert field in str(info.value) and "\n" not in str(info.value)


def test_the_cli_turns_a_bad_dataset_yaml_into_exit_2(tmp_path, capsys):
    from scratchlab.cli import main

    data = tmp_path / "data.yaml"
    data.write_text("train: 5\nval: [1]\nnames: [a]\n")
    with pytest.raises(SystemExit) as info:
        main(["detect", "train", str(data), "--epochs", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(err) == 1 and "'train'" in err[0]


@pytest.mark.parametrize("text, words", [("train: a\ntrain: b\nnames: [x]\n", "given twice"),
                                         ("train: " + "[" * 100_000, "nested too deeply"),
                                         ("train: [a\n", "not valid YAML")])
def test_an_unreadable_dataset_yaml_is_one_line(tmp_path, text, words):
    data = tmp_path / "data.yaml"
    data.write_text(text)
    with pytest.raises(ConfigError, match=words) as info:
        check_data(data)
    assert "\n" not in str(info.value)
