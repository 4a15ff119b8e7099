"""Results files hold no paths of the machine: out_dir as given, data found through
`$SCRATCHLAB_DATA` as `$SCRATCHLAB_DATA/NAME`; reruns still resume and reuse finished runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scratchlab.experiments import ExperimentConfig, load_record, run_experiment
from scratchlab.experiments.run import is_finished
from scratchlab.experiments.sections import portable_data_root

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_cifar(path: Path, per_split: int = 40) -> Path:
    """A CIFAR-10-shaped `cifar10-jpeg.npz` of random images."""
    import io

    rng = np.random.default_rng(0)
    arrays = {"classes": np.array(CLASSES)}
    for split in ("train", "test"):
        blobs = []
        for _ in range(per_split):
            buffer = io.BytesIO()
            image = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(image).save(buffer, format="JPEG")
            blobs.append(buffer.getvalue())
        arrays[f"{split}_jpeg"] = np.frombuffer(b"".join(blobs), np.uint8)
        arrays[f"{split}_offsets"] = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
        arrays[f"{split}_labels"] = (np.arange(per_split) % 10).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


@pytest.fixture
def data_env(tmp_path, monkeypatch):
    """CIFAR-10 in `$SCRATCHLAB_DATA`, a fresh cache, and a working folder as the current one."""
    npz = write_cifar(tmp_path / "data" / "cifar10-jpeg.npz")
    monkeypatch.setenv("SCRATCHLAB_DATA", str(npz.parent))
    monkeypatch.setenv("SCRATCHLAB_CACHE", str(tmp_path / "cache"))
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    return npz


CIFAR_RUN = {"dataset": "cifar10", "model_type": "mlp", "hidden_dims": [8], "epochs": 2,
             "batches": 2, "bs_train": 16, "early_stopping": None, "device": "cpu",
             "run_name": "portable", "out_dir": "runs"}


def absolute_paths(text: str) -> list[str]:
    return re.findall(r'"(/[^"]*)"', text)


def test_a_run_with_scratchlab_data_writes_no_absolute_path(data_env, tmp_path):
    record = run_experiment(CIFAR_RUN, verbose=False)
    text = Path("runs/portable.json").read_text()
    assert absolute_paths(text) == [] and str(tmp_path) not in text
    config = json.loads(text)["config"]
    assert config["out_dir"] == "runs"
    assert config["data"]["data_root"] == "$SCRATCHLAB_DATA/cifar10-jpeg.npz"
    saved = Path("runs/checkpoints/portable.config.json").read_text()
    assert absolute_paths(saved) == [] and str(tmp_path) not in saved
    # read back, the data root is the archive again (where this machine keeps it)
    assert load_record("runs/portable.json").config.data.data_root == str(data_env)
    assert record.ok and is_finished(ExperimentConfig.create(**CIFAR_RUN)) is not None


def test_a_killed_run_resumes_and_a_longer_budget_continues(data_env):
    run_experiment({**CIFAR_RUN, "epochs": 1}, verbose=False)
    Path("runs/portable.json").unlink()  # as if killed after its checkpoint
    longer = run_experiment(CIFAR_RUN, verbose=False)
    assert longer.results.num_epochs == 2
    again = ExperimentConfig.create(**{**CIFAR_RUN, "data_root": str(data_env)})
    assert is_finished(again) is not None  # where the data is does not make it another run


def test_a_data_root_the_user_gives_is_kept_as_given(data_env, tmp_path):
    relative = Path("../data/cifar10-jpeg.npz")
    run_experiment({**CIFAR_RUN, "data_root": str(relative)}, verbose=False)
    config = json.loads(Path("runs/portable.json").read_text())["config"]
    assert config["data"]["data_root"] == "../data/cifar10-jpeg.npz"
    elsewhere = write_cifar(tmp_path / "mine" / "c.npz")
    run_experiment({**CIFAR_RUN, "data_root": str(elsewhere)}, verbose=False)
    config = json.loads(Path("runs/portable.json").read_text())["config"]
    assert config["data"]["data_root"] == str(elsewhere)  # outside $SCRATCHLAB_DATA


def test_portable_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("SCRATCHLAB_DATA", str(tmp_path / "d"))
    assert portable_data_root(str(tmp_path / "d" / "c" / "x.npz")) == "$SCRATCHLAB_DATA/c/x.npz"
    assert portable_data_root(str(tmp_path / "d")) == "$SCRATCHLAB_DATA"
    assert portable_data_root(str(tmp_path / "dd" / "x.npz")) == str(tmp_path / "dd" / "x.npz")
    assert portable_data_root(None) is None and portable_data_root("d/x.npz") == "d/x.npz"
    config = ExperimentConfig.create(data_root="$SCRATCHLAB_DATA/x.npz")
    assert config.data.data_root == str(tmp_path / "d" / "x.npz")
    assert config.to_dict()["data"]["data_root"] == "$SCRATCHLAB_DATA/x.npz"
    monkeypatch.delenv("SCRATCHLAB_DATA")
    kept = ExperimentConfig.create(data_root="$SCRATCHLAB_DATA/x.npz")
    assert kept.to_dict()["data"]["data_root"] == "$SCRATCHLAB_DATA/x.npz"
