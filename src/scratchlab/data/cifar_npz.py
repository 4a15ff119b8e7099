"""CIFAR-10 as JPEG bytes in one ``.npz`` (``cifar10-jpeg.npz``), checked before it is decoded.

Keys: ``classes`` (names), and per split ``{split}_jpeg`` (uint8, every image's JPEG bytes one
after another), ``{split}_offsets`` (integers: image *i* is ``jpeg[offsets[i]:offsets[i+1]]``)
and ``{split}_labels`` (integers in ``[0, len(classes))``). Keys, dtypes, shapes, offsets and
labels are checked (array headers read without loading the JPEG bytes) before anything is
decoded or cached; an image that does not decode to 32x32 is a `DatasetError` too.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from scratchlab.errors import DatasetError
from scratchlab.util import progress, usable_cores

SPLITS = ("train", "test")
ARCHIVE_NAME = "cifar10-jpeg.npz"
DECODE_BATCH = 1024  # images per decode call (one thread's share of work)
# Decoding threads at most: each image also takes the GIL for a few microseconds, so more threads
# contend for it. Both splits on a 16-core GPU machine (bench/decode_speed.py --threads):
# 1.71 s on 1 thread, 1.25 s on 2, 1.33 s on 4, 1.91 s on 8, 2.13 s on 16.
DECODE_THREADS = 4
IMAGE_SHAPE = (3, 32, 32)
UNREADABLE = (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError)


def array_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every array in an ``.npz``, read from the headers alone."""
    headers = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if not name.endswith(".npy"):
                continue
            with archive.open(name) as f:
                version = np.lib.format.read_magic(f)
                read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                        else np.lib.format.read_array_header_2_0)
                shape, _, dtype = read(f)
            headers[name.removesuffix(".npy")] = (shape, dtype)
    return headers


class NpzSource:
    """JPEG bytes per image in one ``.npz`` file (see the module docstring)."""

    kind = "npz"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._checked: set[str] = set()

    @staticmethod
    def matches(path: Path) -> bool:
        """An ``.npz`` with classes and JPEG bytes, or any file named ``cifar10-jpeg.npz`` (so
        that a damaged archive is reported rather than passed over)."""
        if not (path.is_file() and path.suffix == ".npz"):
            return False
        if path.name == ARCHIVE_NAME:
            return True
        try:
            names = set(array_headers(path))
        except UNREADABLE:
            return False
        return "classes" in names and any(f"{s}_jpeg" in names for s in SPLITS)

    def _headers(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        try:
            return array_headers(self.path)
        except UNREADABLE as exc:
            raise DatasetError(f"CIFAR-10 archive {self.path} cannot be read ({exc or 'empty'}"
                               "); it is damaged or not an .npz: replace it") from None

    def _load(self, key: str) -> np.ndarray:
        try:
            with np.load(self.path, allow_pickle=False) as data:
                return data[key]
        except UNREADABLE as exc:
            raise DatasetError(f"CIFAR-10 archive {self.path}: array {key!r} cannot be read "
                               f"({exc}); replace the archive") from None

    def has_split(self, split: str) -> bool:
        return {f"{split}_jpeg", f"{split}_offsets", f"{split}_labels"} <= set(self._headers())

    def files(self, split: str) -> list[Path]:
        return [self.path]

    def classes(self, split: str = "train") -> list[str]:
        self._check_classes(self._headers())
        return [str(c) for c in self._load("classes")]

    def labels(self, split: str) -> np.ndarray:
        self.check(split)
        return self._load(f"{split}_labels").astype(np.int64)

    def read(self, split: str, indices: np.ndarray | None = None, device=None) -> np.ndarray:
        self.check(split)
        jpeg = torch.from_numpy(self._load(f"{split}_jpeg"))
        offsets = self._load(f"{split}_offsets").astype(np.int64)
        if indices is None:
            indices = np.arange(len(offsets) - 1)
        return decode_jpeg_bytes(jpeg, offsets, indices, where=self.path)

    def check(self, split: str) -> None:
        """Refuse a split whose arrays do not fit together (a `DatasetError` naming the fault)."""
        if split in self._checked:
            return
        headers = self._headers()
        num_classes = self._check_classes(headers)
        keys = {part: f"{split}_{part}" for part in ("jpeg", "offsets", "labels")}
        missing = [k for k in keys.values() if k not in headers]
        if missing:
            self._fail(f"has no {', '.join(missing)}")
        (jpeg_shape, jpeg_dtype), (off_shape, off_dtype), (lab_shape, lab_dtype) = (
            headers[keys[p]] for p in ("jpeg", "offsets", "labels"))
        for key, (shape, dtype) in ((k, headers[k]) for k in keys.values()):
            if dtype.kind == "O" or len(shape) != 1:
                self._fail(f"array {key} is {_describe(shape, dtype)}; expected a 1-D array of "
                           "numbers")
        if jpeg_dtype != np.uint8:
            self._fail(f"array {keys['jpeg']} holds {jpeg_dtype}, expected uint8 bytes")
        for key, dtype in ((keys["offsets"], off_dtype), (keys["labels"], lab_dtype)):
            if dtype.kind not in "iu":
                self._fail(f"array {key} holds {dtype}, expected integers")
        images = off_shape[0] - 1
        if images < 1:
            self._fail(f"split {split!r} has no images")
        if lab_shape[0] != images:
            self._fail(f"split {split!r} has {images} images but {lab_shape[0]} labels")
        offsets = self._load(keys["offsets"]).astype(np.int64)
        if offsets[0] != 0 or offsets[-1] != jpeg_shape[0] or np.any(np.diff(offsets) <= 0):
            self._fail(f"offsets of split {split!r} do not cut its {jpeg_shape[0]} JPEG bytes "
                       "into images (they must rise from 0 to the number of bytes)")
        labels = self._load(keys["labels"])
        if labels.min() < 0 or labels.max() >= num_classes:
            self._fail(f"labels of split {split!r} range over {labels.min()}..{labels.max()}, "
                       f"outside 0..{num_classes - 1} ({num_classes} classes)")
        self._checked.add(split)

    def _check_classes(self, headers: dict[str, tuple[tuple[int, ...], np.dtype]]) -> int:
        if "classes" not in headers:
            self._fail("has no classes array")
        shape, dtype = headers["classes"]
        if dtype.kind not in "US" or len(shape) != 1 or shape[0] < 2:
            self._fail(f"array classes is {_describe(shape, dtype)}; expected a 1-D array of at "
                       "least 2 class names")
        return shape[0]

    def _fail(self, problem: str) -> None:
        raise DatasetError(f"CIFAR-10 archive {self.path} {problem}; fix or replace the archive "
                           "(docs/data.md describes its keys)")


def _describe(shape: tuple[int, ...], dtype: np.dtype) -> str:
    kind = "an object array (pickled Python objects)" if dtype.kind == "O" else f"{dtype}"
    return f"{kind} of shape {shape}"


def decode_jpeg_bytes(jpeg: torch.Tensor, offsets: np.ndarray, indices: np.ndarray,
                      where: str | Path = "the archive") -> np.ndarray:
    """Decode images `indices` of a concatenated JPEG byte tensor on the CPU, batches of them on
    parallel threads (faster than a GPU's decoder for 32x32 images: docs/speed.md); an image
    that does not decode to 3x32x32 is a `DatasetError`."""
    from torchvision.io import ImageReadMode, decode_jpeg

    out = np.empty((len(indices), *IMAGE_SHAPE), np.uint8)

    def decode(start: int, stop: int) -> None:
        chunk = indices[start:stop]
        data = [jpeg[offsets[i] : offsets[i + 1]] for i in chunk]
        try:
            images = decode_jpeg(data, mode=ImageReadMode.RGB)
        except RuntimeError as exc:
            first, last = int(chunk[0]), int(chunk[-1])
            reason = " ".join(str(exc).rsplit(", ", 1)[-1].split())[:100]
            raise DatasetError(f"CIFAR-10 images {first}..{last} in {where} do not decode as "
                               f"JPEG ({reason}); replace the archive") from None
        odd = next((i for i, im in zip(chunk, images, strict=True)
                    if tuple(im.shape) != IMAGE_SHAPE), None)
        if odd is not None:
            shape = tuple(images[list(chunk).index(odd)].shape)
            raise DatasetError(f"CIFAR-10 image {int(odd)} in {where} is {shape[1]}x{shape[2]} "
                               "pixels; CIFAR-10 images are 32x32: replace the archive")
        out[start : start + len(chunk)] = torch.stack(images).numpy()

    decode_in_chunks(len(indices), decode, "decoding JPEG")
    return out


def decode_in_chunks(count: int, decode: Callable[[int, int], None], desc: str,
                     chunk: int = DECODE_BATCH) -> None:
    """`decode(start, stop)` over range(count) in chunks of `chunk`, on parallel threads (one per
    usable core up to `DECODE_THREADS`; decoders release the GIL), with a progress bar."""
    starts = range(0, count, chunk)
    threads = max(1, min(len(starts), usable_cores(), DECODE_THREADS))
    with ThreadPoolExecutor(threads) as pool:
        work = pool.map(lambda start: decode(start, min(start + chunk, count)), starts)
        for _ in progress(work, total=len(starts), desc=desc, unit="batch"):
            pass
