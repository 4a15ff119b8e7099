"""CIFAR-10 (`cifar10`): 32x32 RGB images of 10 classes; splits train (50,000), test (10,000) and
valid (5,000 held out of train: the last 500 images of each class; `holdout=True` removes them
from train).

Looked for, in order: `root` when given (else `$SCRATCHLAB_DATA`, then
``~/.cache/scratchlab/data``), each path itself and one level below it, in any of the forms of
`scratchlab.data.cifar_formats`; else downloaded by torchvision when `download=True`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scratchlab.data.base import LabeledTensorDataset
from scratchlab.data.cache import cache_dir, load_cached, save_cached, source_key
from scratchlab.data.cifar_formats import PickleSource, Source, check_split, find_cifar10
from scratchlab.data.registry import register_dataset
from scratchlab.data.roots import DATA_ENV
from scratchlab.errors import ConfigError, DatasetNotFoundError, ScratchlabError
from scratchlab.util import resolve_device

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
# Per-channel mean and standard deviation of the 50,000 training images scaled to [0, 1],
# computed from cifar10-jpeg.npz (tests/data/test_cifar10.py recomputes them from the data).
CIFAR10_MEAN = (0.4913, 0.4821, 0.4465)
CIFAR10_STD = (0.2452, 0.2428, 0.2606)
DTYPES = ("float32", "uint8")
VALID_PER_CLASS = 500
DOWNLOAD_COMMAND = ("python -c \"from scratchlab.data import get_dataset; "
                    "get_dataset('cifar10', 'train', download=True)\"")


def cifar10_mean_std() -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (mean, std) of the CIFAR-10 training images in [0, 1]."""
    return CIFAR10_MEAN, CIFAR10_STD


def default_data_dir() -> Path:
    """Where CIFAR-10 is looked for last and downloaded to: ``<cache folder>/data``."""
    return cache_dir() / "data"


def search_places(root: str | os.PathLike | None) -> list[Path]:
    """`root` alone when given; else `$SCRATCHLAB_DATA` (when set) and the default data folder."""
    if root is not None:
        return [Path(root).expanduser()]
    env = os.environ.get(DATA_ENV)
    return ([Path(env).expanduser()] if env else []) + [default_data_dir()]


def locate_cifar10(split: str, root=None, download: bool = False) -> Source:
    """The CIFAR-10 source to read `split` from, downloading it when asked and not found."""
    places = search_places(root)
    source, _ = find_cifar10(places)
    if source is None and download:
        source = _download(places[0], split)
    if source is None:
        where = ", ".join(str(p) for p in places)
        found = f"CIFAR-10 not found in {where} (nor one level below)"
        raise DatasetNotFoundError(
            f"{found}; provide it in one of three ways: pass root=PATH (a folder holding "
            f"cifar-10-batches-py, a train/<class>/ and test/<class>/ image tree, or "
            f"cifar10-jpeg.npz; or that file itself), set {DATA_ENV}=PATH, or pass download=True "
            f"to fetch it with torchvision",
            cli=f"{found}; give its folder or file with --data-root PATH (or data_root in a "
            f"sweep's base) or set {DATA_ENV}=PATH (forms: docs/data.md), or download it once "
            f"with: {DOWNLOAD_COMMAND}")
    check_split(source, split)
    return source


def data_location(dataset: str, data_root: str | None) -> str | None:
    """The data root a results file records: the user's; else, for CIFAR-10 found in
    `$SCRATCHLAB_DATA`, that source (written as `$SCRATCHLAB_DATA/NAME`)."""
    env = os.environ.get(DATA_ENV)
    if data_root is not None or dataset != "cifar10" or not env:
        return data_root
    try:
        source, _ = find_cifar10([Path(env)])
    except (OSError, ScratchlabError):
        return None
    return None if source is None else os.path.abspath(source.path)


def check_cifar10(split: str, root=None) -> None:
    """Find CIFAR-10 and check that `split` can be read, decoding and caching nothing."""
    source_split = "test" if split == "test" else "train"
    source = locate_cifar10(source_split, root)
    check = getattr(source, "check", None)
    if check is not None:
        check(source_split)


def _download(target: Path, split: str) -> Source:
    from torchvision.datasets import CIFAR10

    try:
        CIFAR10(str(target), train=split == "train", download=True)
    except Exception as exc:  # network, disk: any failure is reported the same way
        raise DatasetNotFoundError(
            f"downloading CIFAR-10 to {target} failed ({exc}); check the connection or provide "
            f"the data with root=PATH or {DATA_ENV}"
        ) from None
    return PickleSource(target / "cifar-10-batches-py")


def select_indices(
    labels: np.ndarray, limit: int | None, stratified: bool, num_classes: int
) -> np.ndarray | None:
    """Indices of the first `limit` examples, or of a class-balanced subset; None means all."""
    if limit is None or limit >= len(labels):
        return None
    if not stratified:
        return np.arange(limit)
    per_class = np.full(num_classes, limit // num_classes)
    per_class[: limit % num_classes] += 1
    chosen = [np.flatnonzero(labels == c)[:k] for c, k in enumerate(per_class)]
    return np.sort(np.concatenate(chosen))


def valid_indices(train_labels: np.ndarray, per_class: int = VALID_PER_CLASS) -> np.ndarray:
    """Indices (sorted) of the validation images in the train split: the last `per_class` of each
    class."""
    chosen = [np.flatnonzero(train_labels == c)[-per_class:] for c in np.unique(train_labels)]
    return np.sort(np.concatenate(chosen))


def split_indices(split: str, train_labels: np.ndarray, holdout: bool) -> np.ndarray | None:
    """Which images of the source's train split make up `split` (None: all of it)."""
    if split == "valid":
        return valid_indices(train_labels)
    if split == "train" and holdout:
        return np.setdiff1d(np.arange(len(train_labels)), valid_indices(train_labels))
    return None


def read_images(
    source: Source,
    split: str,
    indices: np.ndarray | None,
    cache: bool,
    device: torch.device | None = None,
) -> np.ndarray:
    """Decoded uint8 NCHW images of `split`, through the cache for compressed sources.

    A full split is cached after decoding; a subset (`indices`) is decoded on its own unless the
    full split is already cached.
    """
    if source.kind == "pickle":
        return source.read(split, indices)
    key = source_key(source.files(split))
    tag = f"{split}.cpu-decoded"  # not the files of older versions, which decoded on a GPU
    images = load_cached(source.path, tag, key) if cache else None
    if images is not None:
        return images if indices is None else images[indices]
    images = source.read(split, indices, device=device)
    if cache and indices is None:
        save_cached(source.path, tag, key, images, background=True)  # not the run's to wait for
    return images


def _check_options(limit: Any, dtype: str) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"limit must be a positive integer or None, got {limit!r}")
    if dtype not in DTYPES:
        raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")


@register_dataset("cifar10", splits=("train", "valid", "test"))
def load_cifar10(
    split: str = "train",
    root: str | os.PathLike | None = None,
    *,
    holdout: bool = False,
    limit: int | None = None,
    stratified: bool = False,
    dtype: str = "float32",
    device: str | torch.device | None = None,
    cache: bool = True,
    download: bool = False,
    transform=None,
) -> LabeledTensorDataset:
    """CIFAR-10 split `split` as one tensor pair: x (N, 3, 32, 32), y (N,) int64.

    Args:
        split: ``"train"``, ``"valid"`` (5,000 images held out of train) or ``"test"``.
        root: A folder holding the data (or one level above it), or the ``.npz`` file itself.
        holdout: With split ``"train"``, leave out the ``"valid"`` images (45,000 remain).
        limit: Keep the first `limit` images (with `stratified`, a class-balanced subset taking
            the first images of each class).
        stratified: See `limit`.
        dtype: ``"float32"`` (values in [0, 1]) or ``"uint8"`` (0..255).
        device: Put the whole split on this device (JPEG images are decoded on the CPU).
        cache: Read and write the decoded images as ``.npy`` (see `scratchlab.data.cache`).
        download: Fetch the pickles with torchvision when the data is not found.
        transform: Applied to each image in `__getitem__`.
    """
    _check_options(limit, dtype)
    source_split = "test" if split == "test" else "train"
    source = locate_cifar10(source_split, root, download)
    classes = source.classes(source_split)
    labels = source.labels(source_split)
    base = split_indices(split, labels, holdout) if source_split == "train" else None
    if base is not None:
        labels = labels[base]
    indices = select_indices(labels, limit, stratified, len(classes))
    if base is not None:
        indices = base if indices is None else base[indices]
        labels = source.labels(source_split)
    dev = resolve_device(device) if device is not None else None
    images = read_images(source, source_split, indices, cache, dev)
    x = torch.from_numpy(np.ascontiguousarray(images))
    y = torch.from_numpy(labels if indices is None else labels[indices])
    if dev is not None:
        x, y = x.to(dev), y.to(dev)
    if dtype == "float32":
        x = x.float().div_(255)
    return LabeledTensorDataset(x, y, classes, name="cifar10", transform=transform)
