"""CIFAR-10 from every on-disk form: pickles, PNG image folders, JPEG-bytes npz; cache; errors."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from scratchlab.data import get_dataset
from scratchlab.data.cache import wait_for_writes
from scratchlab.data.cifar10 import CIFAR10_CLASSES, cifar10_mean_std, select_indices
from scratchlab.errors import DatasetError, DatasetNotFoundError

SIZES = {"train": 25, "test": 10}


@pytest.fixture(scope="module")
def images():
    """Random images per split, sorted by label so every format lists them in one order."""
    rng = np.random.default_rng(0)
    out = {}
    for split, n in SIZES.items():
        labels = np.sort(rng.integers(0, 10, n))
        out[split] = (rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8), labels)
    return out


def write_pickles(folder: Path, images) -> Path:
    root = folder / "cifar-10-batches-py"
    root.mkdir(parents=True)
    with open(root / "batches.meta", "wb") as f:
        pickle.dump({"label_names": list(CIFAR10_CLASSES)}, f)
    x, y = images["train"]
    for i, part in enumerate(np.array_split(np.arange(len(y)), 5), start=1):
        batch = {"data": x[part].reshape(len(part), -1), "labels": y[part].tolist()}
        with open(root / f"data_batch_{i}", "wb") as f:
            pickle.dump(batch, f)
    x, y = images["test"]
    with open(root / "test_batch", "wb") as f:
        pickle.dump({"data": x.reshape(len(x), -1), "labels": y.tolist()}, f)
    return root


def write_png_tree(folder: Path, images) -> Path:
    for split, (x, y) in images.items():
        for c in CIFAR10_CLASSES:
            (folder / split / c).mkdir(parents=True, exist_ok=True)
        for i, (img, label) in enumerate(zip(x, y, strict=True)):
            Image.fromarray(img.transpose(1, 2, 0)).save(
                folder / split / CIFAR10_CLASSES[label] / f"{i}.png"
            )
    return folder


def jpeg_bytes(img: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(img.transpose(1, 2, 0)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def write_npz(path: Path, images) -> Path:
    arrays = {"classes": np.array(CIFAR10_CLASSES)}
    for split, (x, y) in images.items():
        blobs = [jpeg_bytes(img) for img in x]
        arrays[f"{split}_jpeg"] = np.frombuffer(b"".join(blobs), np.uint8)
        arrays[f"{split}_offsets"] = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
        arrays[f"{split}_labels"] = y.astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("SCRATCHLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SCRATCHLAB_DATA", raising=False)


@pytest.mark.parametrize("split", ["train", "test"])
def test_pickles_and_png_tree_give_identical_tensors(tmp_path, images, split):
    write_pickles(tmp_path / "p", images)
    write_png_tree(tmp_path / "f", images)
    from_pickles = get_dataset("cifar10", split, root=tmp_path / "p", dtype="uint8")
    from_pngs = get_dataset("cifar10", split, root=tmp_path / "f", dtype="uint8")
    x, y = images[split]
    for ds in (from_pickles, from_pngs):
        assert ds.x.dtype == torch.uint8 and ds.y.dtype == torch.int64
        assert torch.equal(ds.x, torch.from_numpy(x)) and torch.equal(ds.y, torch.from_numpy(y))
        assert ds.classes == list(CIFAR10_CLASSES) and ds.input_shape == (3, 32, 32)


def test_npz_matches_pil_decoding_of_the_same_bytes(tmp_path, images):
    path = write_npz(tmp_path / "d" / "cifar10-jpeg.npz", images)
    ds = get_dataset("cifar10", "train", root=tmp_path / "d", dtype="uint8")
    x, y = images["train"]
    reference = np.stack(
        [np.asarray(Image.open(io.BytesIO(jpeg_bytes(i)))).transpose(2, 0, 1) for i in x]
    )
    diff = np.abs(ds.x.numpy().astype(int) - reference.astype(int)).max()
    assert diff <= 1, diff
    assert np.abs(reference.astype(int) - x.astype(int)).max() > 1  # JPEG is lossy: not a no-op
    assert torch.equal(ds.y, torch.from_numpy(y))
    same = get_dataset("cifar10", "train", root=path, dtype="uint8")  # the file itself
    assert torch.equal(same.x, ds.x)


def test_float_dtype_is_uint8_over_255(tmp_path, images):
    write_pickles(tmp_path, images)
    u8 = get_dataset("cifar10", "test", root=tmp_path, dtype="uint8")
    f32 = get_dataset("cifar10", "test", root=tmp_path)
    assert f32.x.dtype == torch.float32
    assert torch.allclose(f32.x, u8.x.float() / 255)
    assert f32.x.min() >= 0 and f32.x.max() <= 1


def test_environment_variable_and_one_level_down(tmp_path, images, monkeypatch):
    write_npz(tmp_path / "data" / "mine.npz", images)
    monkeypatch.setenv("SCRATCHLAB_DATA", str(tmp_path / "data"))
    assert len(get_dataset("cifar10", "test")) == SIZES["test"]


def test_limit_and_stratified(tmp_path, images):
    write_pickles(tmp_path, images)
    ds = get_dataset("cifar10", "train", root=tmp_path, dtype="uint8", limit=7)
    assert torch.equal(ds.x, torch.from_numpy(images["train"][0][:7]))
    labels = np.repeat(np.arange(10), 5)
    chosen = select_indices(labels, 23, True, 10)
    assert np.array_equal(np.bincount(labels[chosen], minlength=10), [3, 3, 3] + [2] * 7)
    assert select_indices(labels, None, True, 10) is None
    with pytest.raises(Exception, match="limit"):
        get_dataset("cifar10", "train", root=tmp_path, limit=0)
    with pytest.raises(Exception, match="dtype"):
        get_dataset("cifar10", "train", root=tmp_path, dtype="float16")


def test_cache_beside_source_then_reused(tmp_path, images, monkeypatch):
    write_npz(tmp_path / "cifar10-jpeg.npz", images)
    first = get_dataset("cifar10", "test", root=tmp_path, dtype="uint8")
    wait_for_writes()  # written in the background
    cached = sorted(tmp_path.glob("cifar10-jpeg.test.*.npy"))
    assert len(cached) == 1
    from scratchlab.data import cifar_formats

    def fail(*args, **kwargs):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(cifar_formats.NpzSource, "read", fail)
    again = get_dataset("cifar10", "test", root=tmp_path, dtype="uint8")
    assert torch.equal(first.x, again.x)
    subset = get_dataset("cifar10", "test", root=tmp_path, dtype="uint8", limit=3)
    assert torch.equal(subset.x, first.x[:3])
    os.utime(tmp_path / "cifar10-jpeg.npz", ns=(1, 1))  # the source changed: new key, no reuse
    with pytest.raises(AssertionError, match="despite the cache"):
        get_dataset("cifar10", "test", root=tmp_path)


def test_cache_goes_to_cache_dir_when_source_read_only(tmp_path, images):
    src = tmp_path / "ro"
    write_npz(src / "cifar10-jpeg.npz", images)
    src.chmod(0o555)
    try:
        get_dataset("cifar10", "test", root=src)
        get_dataset("cifar10", "test", root=src, cache=False)
        wait_for_writes()
    finally:
        src.chmod(0o755)
    assert not list(src.glob("*.npy"))
    assert len(list((tmp_path / "cache").glob("cifar10-jpeg.test.*.npy"))) == 1


def test_missing_dataset_names_where_it_looked(tmp_path, monkeypatch):
    with pytest.raises(DatasetNotFoundError) as info:
        get_dataset("cifar10", "train", root=tmp_path / "nowhere")
    message = str(info.value)
    assert str(tmp_path / "nowhere") in message
    assert "SCRATCHLAB_DATA" in message and "download=True" in message and "root=" in message
    monkeypatch.setenv("SCRATCHLAB_DATA", str(tmp_path / "env"))
    with pytest.raises(DatasetNotFoundError) as info:
        get_dataset("cifar10", "test")
    assert str(tmp_path / "env") in str(info.value)
    assert str(tmp_path / "cache" / "data") in str(info.value)


def test_missing_split_is_reported(tmp_path, images):
    write_png_tree(tmp_path, {"train": images["train"]})
    with pytest.raises(DatasetNotFoundError, match="'test'"):
        get_dataset("cifar10", "test", root=tmp_path)


def test_download_uses_torchvision_and_then_loads(tmp_path, images, monkeypatch):
    import torchvision.datasets

    calls = []

    def fake_cifar10(root, train, download):
        calls.append((root, train, download))
        write_pickles(Path(root), images)

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", fake_cifar10)
    ds = get_dataset("cifar10", "train", root=tmp_path / "dl", download=True, dtype="uint8")
    assert calls == [(str(tmp_path / "dl"), True, True)]
    assert torch.equal(ds.x, torch.from_numpy(images["train"][0]))


@pytest.fixture(scope="module")
def real_cifar(cifar_npz, tmp_path_factory):
    """Both splits of the real archive, decoded once into a temporary cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SCRATCHLAB_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield {
            s: get_dataset("cifar10", s, root=cifar_npz, dtype="uint8") for s in ("train", "test")
        }


def test_real_archive_sizes_and_balance(real_cifar):
    for split, n in (("train", 50_000), ("test", 10_000)):
        ds = real_cifar[split]
        assert ds.x.shape == (n, 3, 32, 32) and ds.x.dtype == torch.uint8
        assert torch.bincount(ds.y).tolist() == [n // 10] * 10
        assert ds.classes == list(CIFAR10_CLASSES)


def test_mean_std_constants_match_the_data(real_cifar):
    x = real_cifar["train"].x
    levels = torch.arange(256, dtype=torch.float64) / 255
    hist = torch.stack([torch.bincount(x[:, c].flatten(), minlength=256) for c in range(3)])
    hist = hist.double() / hist.sum(dim=1, keepdim=True)  # exact per-channel distribution
    mean = hist @ levels
    std = (hist @ levels**2 - mean**2).sqrt()
    const_mean, const_std = cifar10_mean_std()
    assert torch.allclose(mean, torch.tensor(const_mean, dtype=torch.float64), atol=1e-3)
    assert torch.allclose(std, torch.tensor(const_std, dtype=torch.float64), atol=1e-3)


def test_real_archive_stratified_subset(cifar_npz):
    ds = get_dataset("cifar10", "test", root=cifar_npz, limit=50, stratified=True, cache=False)
    assert torch.bincount(ds.y).tolist() == [5] * 10


def test_real_valid_split_and_holdout(real_cifar, cifar_npz):
    train = real_cifar["train"]
    valid = get_dataset("cifar10", "valid", root=cifar_npz, dtype="uint8")
    rest = get_dataset("cifar10", "train", root=cifar_npz, dtype="uint8", holdout=True)
    assert len(valid) == 5_000 and len(rest) == 45_000
    assert torch.bincount(valid.y).tolist() == [500] * 10
    # together they are exactly the training split, image for image
    merged = torch.cat([rest.x, valid.x]).flatten(1)
    assert sorted(map(bytes, merged.numpy())) == sorted(map(bytes, train.x.flatten(1).numpy()))
    limited = get_dataset(
        "cifar10", "valid", root=cifar_npz, dtype="uint8", limit=100, stratified=True
    )
    assert torch.bincount(limited.y).tolist() == [10] * 10
    assert {bytes(v) for v in limited.x.flatten(1).numpy()} <= {
        bytes(v) for v in valid.x.flatten(1).numpy()
    }


def test_a_png_tree_decodes_in_parallel_chunks_in_order(tmp_path, images, monkeypatch):
    from scratchlab.data import cifar_formats

    monkeypatch.setattr(cifar_formats, "DECODE_BATCH", 7)  # many chunks, a short last one
    write_png_tree(tmp_path / "f", images)
    x, y = images["train"]
    ds = get_dataset("cifar10", "train", root=tmp_path / "f", dtype="uint8", cache=False)
    assert torch.equal(ds.x, torch.from_numpy(x)) and torch.equal(ds.y, torch.from_numpy(y))


@pytest.mark.parametrize("bad", ["small", "not_an_image"])
def test_a_bad_file_in_a_png_tree_is_named(tmp_path, images, bad):
    root = write_png_tree(tmp_path / "f", images)
    target = next((root / "train" / CIFAR10_CLASSES[0]).glob("*.png"))
    if bad == "small":
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(target)
    else:
        target.write_bytes(b"not a PNG")
    message = "16x16 pixels" if bad == "small" else "does not decode"
    with pytest.raises(DatasetError, match=message) as info:
        get_dataset("cifar10", "train", root=root, dtype="uint8", cache=False)
    assert str(target) in str(info.value)
