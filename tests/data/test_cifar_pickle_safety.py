"""CIFAR-10 python batches are unpickled with only numpy's array globals: a crafted file that
would run code is refused (exit 2, one line, nothing run), a genuine one still loads."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from scratchlab.cli import main
from scratchlab.data import get_dataset
from scratchlab.data.cifar10 import CIFAR10_CLASSES
from scratchlab.data.cifar_formats import load_batch
from scratchlab.errors import DatasetError

FILES = ["batches.meta", *(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]


class _Payload:
    """Unpickling this creates a file: what a crafted batch could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def dumps(obj, protocol: int, numpy1: bool = False) -> bytes:
    """`obj` pickled; `numpy1`: spelled as numpy 1 and the original (python 2) files name the
    array constructor (`numpy.core.multiarray`)."""
    data = pickle.dumps(obj, protocol=protocol)
    return data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray") if numpy1 else data


def write_batches(folder: Path, protocol: int = 2, numpy1: bool = False) -> Path:
    """A genuine-format `cifar-10-batches-py`: 5 train images per batch file, 10 test images."""
    root = folder / "cifar-10-batches-py"
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    meta = {"label_names": list(CIFAR10_CLASSES), "num_cases_per_batch": 5, "num_vis": 3072}
    (root / "batches.meta").write_bytes(dumps(meta, protocol, numpy1))
    for name in FILES[1:]:
        n = 10 if name == "test_batch" else 5
        batch = {"batch_label": name, "labels": [int(v) for v in rng.integers(0, 10, n)],
                 "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 "filenames": [f"img_{i}.png".encode() for i in range(n)]}
        (root / name).write_bytes(dumps(batch, protocol, numpy1))
    return root


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("SCRATCHLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SCRATCHLAB_DATA", raising=False)


@pytest.mark.parametrize(("protocol", "numpy1"), [(2, True), (2, False), (4, False), (5, False)])
def test_genuine_batches_still_load(tmp_path, protocol, numpy1):
    root = write_batches(tmp_path / "data", protocol, numpy1)
    batch = load_batch(root / "data_batch_2", ("data", "labels"))
    assert batch["data"].dtype == np.uint8 and batch["data"].shape == (5, 3072)
    ds = get_dataset("cifar10", "train", root=tmp_path / "data", dtype="uint8")
    assert len(ds) == 25 and ds.classes == list(CIFAR10_CLASSES)
    images = ds.tensors[0] if hasattr(ds, "tensors") else ds[0][0]
    assert images.shape[-3:] == (3, 32, 32)


@pytest.mark.parametrize("crafted", ["batches.meta", "data_batch_1", "test_batch"])
def test_a_batch_that_would_run_code_is_refused_by_run_exp(tmp_path, capsys, crafted):
    root = write_batches(tmp_path / "data")
    marker, out = tmp_path / "pwned", tmp_path / "out"
    (root / crafted).write_bytes(pickle.dumps({"label_names": _Payload(marker),
                                               "data": _Payload(marker), "labels": []}))
    with pytest.raises(SystemExit) as exit_info:
        main(["run-exp", "--dataset", "cifar10", "--data-root", str(tmp_path / "data"),
              "-M", "mlp", "-H", "8", "--epochs", "1", "--batches", "1", "--device", "cpu",
              "-o", str(out)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert str(root / crafted) in err and "pathlib" in err
    assert not marker.exists()
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))


@pytest.mark.parametrize("content", [b"", b"\x80\x02}q\x00", pickle.dumps([1, 2]),
                                     pickle.dumps({"labels": []})])
def test_a_damaged_batch_is_a_dataset_error_naming_the_file(tmp_path, content):
    path = tmp_path / "data_batch_1"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match="data_batch_1"):
        load_batch(path, ("data", "labels"))
