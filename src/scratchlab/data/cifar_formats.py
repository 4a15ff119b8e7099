"""The three on-disk forms of CIFAR-10 and how to find them.

- ``pickle``: torchvision's ``cifar-10-batches-py`` folder (``data_batch_1..5``, ``test_batch``,
  ``batches.meta``), the original lossless release.
- ``folder``: an image-folder tree ``train/<class>/*.png|jpg`` and ``test/<class>/...``.
- ``npz``: JPEG bytes per image (keys ``{split}_jpeg``, ``{split}_offsets``, ``{split}_labels``,
  ``classes``), as in ``cifar10-jpeg.npz`` (`scratchlab.data.cifar_npz`).

Every reader returns images as uint8 NCHW numpy arrays and labels as int64.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np

from scratchlab.data.cifar_npz import DECODE_BATCH, IMAGE_SHAPE, NpzSource, decode_in_chunks
from scratchlab.errors import DatasetError, DatasetNotFoundError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
PICKLE_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def _natural_key(path: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


class PickleSource:
    """torchvision's ``cifar-10-batches-py`` folder."""

    kind = "pickle"

    def __init__(self, path: Path) -> None:
        self.path = path

    @staticmethod
    def matches(path: Path) -> bool:
        return path.is_dir() and (path / "batches.meta").is_file()

    def has_split(self, split: str) -> bool:
        return all((self.path / f).is_file() for f in PICKLE_FILES[split])

    def files(self, split: str) -> list[Path]:
        return [self.path / f for f in PICKLE_FILES[split]]

    def classes(self, split: str = "train") -> list[str]:
        meta = load_batch(self.path / "batches.meta", ("label_names",))
        return [str(c) for c in meta["label_names"]]

    def _batches(self, split: str) -> list[dict]:
        return [load_batch(file, ("data", "labels")) for file in self.files(split)]

    def labels(self, split: str) -> np.ndarray:
        return np.concatenate([np.asarray(b["labels"], np.int64) for b in self._batches(split)])

    def read(self, split: str, indices: np.ndarray | None = None, device=None) -> np.ndarray:
        data = np.concatenate([np.asarray(b["data"], np.uint8) for b in self._batches(split)])
        data = data.reshape(-1, 3, 32, 32)
        return data if indices is None else data[indices]


def _numpy_globals() -> dict[tuple[str, str], object]:
    """The globals a pickled numpy array names (numpy 1 and 2 spell the module differently)."""
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy 1
        from numpy.core import multiarray, numeric  # type: ignore[no-redef]
    import _codecs

    found: dict[tuple[str, str], object] = {("_codecs", "encode"): _codecs.encode}
    for package in ("numpy.core", "numpy._core"):
        found[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        found[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer
    found[("numpy", "ndarray")], found[("numpy", "dtype")] = np.ndarray, np.dtype
    return found


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays, lists, dicts, bytes, str and numbers; refuses any other global
    (a class or function a crafted file would call)."""

    allowed = _numpy_globals()

    def find_class(self, module: str, name: str) -> object:
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"it names {module}.{name}, refused: a CIFAR-10 batch "
                                         "holds only numpy arrays and plain values") from None


def load_batch(path: Path, keys: tuple[str, ...]) -> dict:
    """One file of ``cifar-10-batches-py``: a dict holding `keys`, read without running code."""
    try:
        with open(path, "rb") as f:
            batch = _BatchUnpickler(f, encoding="latin1").load()
    except OSError as exc:
        raise DatasetError(f"cannot read CIFAR-10 file {path}: {exc.strerror}") from None
    except Exception as exc:  # unpickling raises many types for a damaged or crafted file
        reason = " ".join(str(exc).split())[:200]
        raise DatasetError(
            f"CIFAR-10 file {path} is not a cifar-10-batches-py batch ({type(exc).__name__}: "
            f"{reason}); nothing in it was run: replace it with the original download"
        ) from None
    if not isinstance(batch, dict) or not all(k in batch for k in keys):
        raise DatasetError(
            f"CIFAR-10 file {path} is not a cifar-10-batches-py batch (it needs the keys "
            f"{', '.join(keys)}); replace it with the original download"
        )
    return batch


class FolderSource:
    """An image-folder tree ``<split>/<class>/<image>``; classes sorted by name."""

    kind = "folder"

    def __init__(self, path: Path) -> None:
        self.path = path

    @staticmethod
    def matches(path: Path) -> bool:
        return path.is_dir() and any(
            (path / s).is_dir() and any(c.is_dir() for c in (path / s).iterdir())
            for s in PICKLE_FILES
        )

    def has_split(self, split: str) -> bool:
        return (self.path / split).is_dir()

    def classes(self, split: str = "train") -> list[str]:
        folder = self.path / (split if self.has_split(split) else "test")
        return sorted(c.name for c in folder.iterdir() if c.is_dir())

    def _listing(self, split: str) -> tuple[list[Path], np.ndarray]:
        files, labels = [], []
        for label, name in enumerate(self.classes(split)):
            images = [
                p
                for p in (self.path / split / name).iterdir()
                if p.suffix.lower() in IMAGE_SUFFIXES
            ]
            images.sort(key=_natural_key)
            files += images
            labels += [label] * len(images)
        return files, np.asarray(labels, np.int64)

    def files(self, split: str) -> list[Path]:
        return self._listing(split)[0]

    def labels(self, split: str) -> np.ndarray:
        return self._listing(split)[1]

    def read(self, split: str, indices: np.ndarray | None = None, device=None) -> np.ndarray:
        """The images (N, 3, 32, 32) uint8, decoded on parallel threads; a file that does not
        decode to 3x32x32 is a `DatasetError` naming it."""
        files = self.files(split)
        chosen = files if indices is None else [files[i] for i in indices]
        out = np.empty((len(chosen), *IMAGE_SHAPE), np.uint8)

        def decode(start: int, stop: int) -> None:
            for i in range(start, stop):
                out[i] = _decode_file(chosen[i])

        decode_in_chunks(len(chosen), decode, f"decoding {split} images", DECODE_BATCH)
        return out


def _decode_file(path: Path) -> np.ndarray:
    """One image file as (3, 32, 32) uint8 RGB."""
    from torchvision.io import ImageReadMode, decode_image, read_file

    try:
        image = decode_image(read_file(str(path)), mode=ImageReadMode.RGB)
    except RuntimeError as exc:
        reason = " ".join(str(exc).split())[:100]
        raise DatasetError(f"CIFAR-10 image {path} does not decode ({reason}); replace or "
                           "remove it") from None
    if tuple(image.shape) != IMAGE_SHAPE:
        raise DatasetError(f"CIFAR-10 image {path} is {image.shape[1]}x{image.shape[2]} pixels; "
                           "CIFAR-10 images are 32x32: replace or remove it")
    return image.numpy()


Source = PickleSource | FolderSource | NpzSource
_KINDS = (PickleSource, FolderSource, NpzSource)


def _match(path: Path) -> Source | None:
    for kind in _KINDS:
        if kind.matches(path):
            return kind(path)
    return None


def find_cifar10(places: list[Path]) -> tuple[Source | None, list[Path]]:
    """The first CIFAR-10 source in `places` (each checked itself, then one level down).

    One level down, ``cifar-10-batches-py`` and ``cifar10-jpeg.npz`` are tried first, then other
    entries in name order. Returns the source (or None) and every path that was looked at.
    """
    looked: list[Path] = []
    for place in places:
        place = place.expanduser()
        looked.append(place)
        found = _match(place)
        if found is not None:
            return found, looked
        if not place.is_dir():
            continue
        preferred = [place / "cifar-10-batches-py", place / "cifar10-jpeg.npz"]
        others = sorted(p for p in place.iterdir() if p not in preferred)
        for child in [p for p in preferred if p.exists()] + others:
            looked.append(child)
            found = _match(child)
            if found is not None:
                return found, looked
    return None, looked


def check_split(source: Source, split: str) -> None:
    """Raise `DatasetNotFoundError` when `source` lacks `split`."""
    if not source.has_split(split):
        raise DatasetNotFoundError(
            f"CIFAR-10 found at {source.path} ({source.kind}) has no {split!r} split; "
            f"add it there or point root/SCRATCHLAB_DATA at a complete copy"
        )
