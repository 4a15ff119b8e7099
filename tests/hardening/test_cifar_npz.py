"""Malformed CIFAR-10 JPEG archives (`.npz`): refused before decoding or writing caches."""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np
import pytest
from PIL import Image

from scratchlab.data.cifar10 import CIFAR10_CLASSES

RUN = ["run-exp", "--dataset", "cifar10", "--data-root", "data/cifar10-jpeg.npz", "-M", "mlp",
       "-H", "8", "--epochs", "1", "--batches", "1", "--device", "cpu", "-o", "out"]


def jpeg(img: np.ndarray, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(img).save(buffer, format=fmt)
    return buffer.getvalue()


def split_arrays(n: int, seed: int, size: int = 32, fmt: str = "JPEG") -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    blobs = [jpeg(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), fmt) for _ in range(n)]
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    return {"jpeg": np.frombuffer(b"".join(blobs), np.uint8), "offsets": offsets,
            "labels": np.arange(n, dtype=np.int64) % 10}


def archive(**changes) -> dict[str, np.ndarray]:
    """A valid tiny archive (20 train, 10 test images) with `changes` applied (None: drop)."""
    arrays = {"classes": np.array(CIFAR10_CLASSES)}
    for split, n, seed in (("train", 20, 0), ("test", 10, 1)):
        arrays.update({f"{split}_{k}": v for k, v in split_arrays(n, seed).items()})
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value(arrays) if callable(value) else value
    return arrays


def _offsets(edit):
    return lambda a: edit(a["train_offsets"].copy())


def _garbage(a):
    data = a["train_jpeg"].copy()
    data[: a["train_offsets"][1]] = 7
    return data


def _cut_image(a):
    o = a["train_offsets"].copy()
    o[1] = o[1] // 2
    return o


def _at(array, index, value):
    array[index] = value
    return array


# name -> the archive's arrays (a dict) or the file's bytes
VARIANTS = {
    "truncated": "truncated", "empty file": b"", "random bytes": os.urandom(5000),
    "a zip without arrays": "zip",
    "no keys but classes": {"classes": np.array(CIFAR10_CLASSES), "train_jpeg": np.zeros(3)},
    "no classes": archive(classes=None),
    "no train offsets": archive(train_offsets=None),
    "no train labels": archive(train_labels=None),
    "no test split": archive(test_jpeg=None, test_offsets=None, test_labels=None),
    "offsets not from 0": archive(train_offsets=_offsets(lambda o: o + 5)),
    "offsets decreasing": archive(train_offsets=_offsets(lambda o: o[::-1].copy())),
    "offsets past the end": archive(train_offsets=_offsets(lambda o: _at(o, -1, o[-1] + 999))),
    "offsets negative": archive(train_offsets=_offsets(lambda o: _at(o, 3, -4))),
    "offsets float": archive(train_offsets=_offsets(lambda o: o.astype(np.float64) + 0.5)),
    "offsets 2-D": archive(train_offsets=_offsets(lambda o: np.stack([o, o]))),
    "labels out of range": archive(train_labels=lambda a: _at(a["train_labels"].copy(), 0, 10)),
    "labels negative": archive(train_labels=lambda a: _at(a["train_labels"].copy(), 0, -1)),
    "labels float": archive(train_labels=lambda a: a["train_labels"] + 0.5),
    "labels float but whole": archive(train_labels=lambda a: a["train_labels"].astype(float)),
    "labels text": archive(train_labels=lambda a: a["train_labels"].astype(str)),
    "labels 2-D": archive(train_labels=lambda a: a["train_labels"].reshape(2, -1)),
    "fewer labels than images": archive(train_labels=lambda a: a["train_labels"][:-1]),
    "more labels than images": archive(train_labels=lambda a: np.r_[a["train_labels"], 0]),
    "test labels out of range": archive(test_labels=lambda a: a["test_labels"] + 100),
    "jpeg garbage": archive(train_jpeg=_garbage),
    "one image cut short": archive(train_offsets=_cut_image),
    "16x16 images": archive(**{f"train_{k}": v for k, v in split_arrays(20, 0, 16).items()}),
    "png not jpeg": archive(**{f"train_{k}": v
                               for k, v in split_arrays(20, 0, fmt="PNG").items()}),
    "jpeg as int64": archive(train_jpeg=lambda a: a["train_jpeg"].astype(np.int64)),
    "jpeg 2-D": archive(train_jpeg=lambda a: a["train_jpeg"].reshape(1, -1)),
    "classes object array": archive(classes=np.array(list(CIFAR10_CLASSES), dtype=object)),
    "labels object array": archive(train_labels=lambda a: a["train_labels"].astype(object)),
    "five classes": archive(classes=np.array(CIFAR10_CLASSES[:5])),
    "no classes listed": archive(classes=np.array([], dtype=str)),
    "classes 2-D": archive(classes=np.array(CIFAR10_CLASSES).reshape(2, 5)),
    "empty train split": archive(train_jpeg=np.zeros(0, np.uint8),
                                 train_offsets=np.zeros(1, np.int64),
                                 train_labels=np.zeros(0, np.int64)),
}
CASES = [(name, limit) for name in VARIANTS for limit in (None, "5")
         if limit is None or name in ("jpeg garbage", "labels out of range", "16x16 images",
                                      "offsets past the end")]


def write_archive(path, variant):
    path.parent.mkdir(parents=True, exist_ok=True)
    if variant == "truncated":
        write_archive(path, archive())
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif variant == "zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("readme.txt", "nothing here")
    elif isinstance(variant, bytes):
        path.write_bytes(variant)
    else:
        with open(path, "wb") as f:
            np.savez(f, **variant)


@pytest.mark.parametrize(("name", "limit"), CASES, ids=lambda v: str(v)[:40])
def test_cifar_npz(name, limit, refuse, work):
    write_archive(work / "data" / "cifar10-jpeg.npz", VARIANTS[name])
    extra = ["--train-limit", limit] if limit else []
    refuse([*RUN, *extra])


def test_a_valid_archive_trains(work, refuse, capsys):
    """The archive the variants start from is valid (so each variant tests its own fault)."""
    from scratchlab.cli import main

    write_archive(work / "data" / "cifar10-jpeg.npz", archive())
    with pytest.raises(SystemExit) as info:
        main(RUN)
    assert info.value.code == 0, capsys.readouterr().err
