"""`shapes`: synthetic object detection, coloured squares, circles and triangles on noisy
backgrounds.

`write_shapes_dataset` writes a YOLO-format folder (``images/{train,val[,test]}``,
``labels/{train,val[,test]}``, ``data.yaml``) that ultralytics trains on directly;
`get_dataset("shapes", split, root=DIR)` writes it when missing and returns a `ShapesDataset`
of ``(image uint8 CHW, boxes (n, 4) xyxy pixels, labels (n,))``.

Objects never overlap, so every box holds exactly one fully visible object.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image, ImageDraw
from torch.utils.data import Dataset

from scratchlab.data.cache import cache_dir
from scratchlab.data.registry import register_dataset
from scratchlab.errors import ConfigError, DatasetNotFoundError
from scratchlab.util import atomic_write_json, atomic_write_text

CLASSES = ("square", "circle", "triangle")
SPLITS = ("train", "val", "test")
META_FILE = "shapes.json"
NOISE_STD = 8.0


@dataclass(frozen=True)
class ShapesOptions:
    """What a generated `shapes` folder was made with (stored in ``shapes.json``)."""

    num_train: int = 64
    num_val: int = 16
    num_test: int = 0
    imgsz: int = 64
    max_objects: int = 3
    seed: int = 0

    def validate(self) -> None:
        """Raise `ConfigError` for sizes that cannot make a dataset."""
        if min(self.num_train, self.num_val) < 1 or self.num_test < 0:
            raise ConfigError("shapes: num_train and num_val must be >= 1 and num_test >= 0")
        if self.imgsz < 32:
            raise ConfigError(f"shapes: imgsz must be >= 32 pixels, got {self.imgsz}")
        if self.max_objects < 1:
            raise ConfigError(f"shapes: max_objects must be >= 1, got {self.max_objects}")


def _place_boxes(rng: np.random.Generator, imgsz: int, count: int) -> np.ndarray:
    """Up to `count` non-overlapping integer boxes (x0, y0, x1, y1) inside the image."""
    boxes: list[np.ndarray] = []
    lo, hi = max(8, imgsz // 6), max(9, imgsz // 2)
    for _ in range(count * 20):
        if len(boxes) == count:
            break
        size = rng.integers(lo, hi, endpoint=True, size=2)
        x0, y0 = rng.integers(0, imgsz - size + 1)
        box = np.array([x0, y0, x0 + size[0], y0 + size[1]])
        if all(box[0] >= b[2] or b[0] >= box[2] or box[1] >= b[3] or b[1] >= box[3] for b in boxes):
            boxes.append(box)
    return np.stack(boxes) if boxes else np.zeros((0, 4), dtype=np.int64)


def _object_colour(rng: np.random.Generator, background: np.ndarray) -> tuple[int, int, int]:
    """A random colour that differs from the `background` RGB by at least 120 in some channel."""
    colour = rng.integers(0, 256, size=3)
    if np.abs(colour - background).max() < 120:
        colour[background.argmin()] = 255
    return tuple(int(c) for c in colour)


def _draw(
    draw: ImageDraw.ImageDraw, cls: int, box: np.ndarray, colour: tuple[int, int, int]
) -> None:
    """Draw shape `cls` filling the pixels x0..x1-1, y0..y1-1 of `box`."""
    x0, y0, x1, y1 = (int(v) for v in box)
    if cls == 0:
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=colour)
    elif cls == 1:
        draw.ellipse((x0, y0, x1 - 1, y1 - 1), fill=colour)
    else:
        draw.polygon([(x0, y1 - 1), (x1 - 1, y1 - 1), ((x0 + x1 - 1) / 2, y0)], fill=colour)


def make_image(
    rng: np.random.Generator, imgsz: int, max_objects: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image (HWC uint8), its boxes (n, 4) xyxy pixels and class indices (n,)."""
    background = np.clip(rng.uniform(20, 100) + rng.normal(0, 10, size=3), 0, 255).round()
    image = Image.fromarray(np.broadcast_to(background, (imgsz, imgsz, 3)).astype(np.uint8))
    boxes = _place_boxes(rng, imgsz, int(rng.integers(1, max_objects, endpoint=True)))
    classes = rng.integers(0, len(CLASSES), size=len(boxes))
    draw = ImageDraw.Draw(image)
    for cls, box in zip(classes, boxes, strict=True):
        _draw(draw, int(cls), box, _object_colour(rng, background))
    noise = rng.standard_normal(size=(imgsz, imgsz, 3), dtype=np.float32) * NOISE_STD
    pixels = np.asarray(image, dtype=np.float32) + noise
    return np.clip(pixels, 0, 255).astype(np.uint8), boxes, classes


def _yolo_lines(boxes: np.ndarray, classes: np.ndarray, imgsz: int) -> str:
    """YOLO label text: one ``cls cx cy w h`` line per box, normalised to [0, 1]."""
    lines = []
    for cls, (x0, y0, x1, y1) in zip(classes, boxes, strict=True):
        cx, cy = (x0 + x1) / 2 / imgsz, (y0 + y1) / 2 / imgsz
        w, h = (x1 - x0) / imgsz, (y1 - y0) / imgsz
        lines.append(f"{int(cls)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return "\n".join(lines) + ("\n" if lines else "")


def _write_split(
    out: Path, split: str, count: int, opts: ShapesOptions, rng: np.random.Generator
) -> None:
    images, labels = out / "images" / split, out / "labels" / split
    for folder in (images, labels):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    for i in range(count):
        pixels, boxes, classes = make_image(rng, opts.imgsz, opts.max_objects)
        Image.fromarray(pixels).save(images / f"{i:06d}.png", compress_level=1)
        (labels / f"{i:06d}.txt").write_text(_yolo_lines(boxes, classes, opts.imgsz))


def write_shapes_dataset(
    out_dir: str | Path,
    num_train: int = 64,
    num_val: int = 16,
    num_test: int = 0,
    imgsz: int = 64,
    max_objects: int = 3,
    seed: int = 0,
) -> Path:
    """Write a YOLO-format `shapes` folder under `out_dir` and return its ``data.yaml``.

    The same arguments always give the same files; a folder already written with the same
    arguments is reused as it is.
    """
    opts = ShapesOptions(num_train, num_val, num_test, imgsz, max_objects, seed)
    opts.validate()
    out = Path(out_dir).expanduser().resolve()
    data_yaml = out / "data.yaml"
    if _existing_options(out) == opts and data_yaml.is_file():
        return data_yaml
    (out / META_FILE).unlink(missing_ok=True)
    counts = {"train": num_train, "val": num_val, "test": num_test}
    rngs = dict(
        zip(
            SPLITS,
            (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)),
            strict=True,
        )
    )
    for split in SPLITS:
        if counts[split]:
            _write_split(out, split, counts[split], opts, rngs[split])
        else:
            for kind in ("images", "labels"):
                shutil.rmtree(out / kind / split, ignore_errors=True)
    spec = {s: f"images/{s}" for s in SPLITS if counts[s]}
    spec["names"] = dict(enumerate(CLASSES))
    header = "# shapes: synthetic detection dataset (paths relative to this file's folder)\n"
    atomic_write_text(data_yaml, header + yaml.safe_dump(spec, sort_keys=False))
    atomic_write_json(out / META_FILE, asdict(opts))
    return data_yaml


def _existing_options(out: Path) -> ShapesOptions | None:
    try:
        return ShapesOptions(**json.loads((out / META_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def read_yolo_labels(path: Path, width: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Boxes (n, 4) xyxy pixels (float32) and labels (n,) int64 from a YOLO label file."""
    rows = np.loadtxt(path, ndmin=2, dtype=np.float64) if path.stat().st_size else np.zeros((0, 5))
    cls, cx, cy, w, h = (rows[:, i] for i in range(5))
    boxes = np.stack(
        [(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height],
        1,
    )
    return torch.as_tensor(boxes, dtype=torch.float32), torch.as_tensor(cls, dtype=torch.int64)


class ShapesDataset(Dataset):
    """One split of a written `shapes` folder: items are ``(image, boxes, labels)``.

    ``image`` is uint8 (3, H, W); ``boxes`` float32 (n, 4) xyxy in pixels; ``labels`` int64 (n,).
    """

    def __init__(self, root: str | Path, split: str = "train") -> None:
        self.root = Path(root)
        self.split = split
        self.classes = list(CLASSES)
        self.data_yaml = self.root / "data.yaml"
        self.files = sorted((self.root / "images" / split).glob("*.png"))
        if not self.files:
            raise DatasetNotFoundError(
                f"shapes split {split!r} has no images under {self.root}; write it with "
                "write_shapes_dataset"
            )

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        path = self.files[index]
        pixels = np.asarray(Image.open(path).convert("RGB"))
        label_file = self.root / "labels" / self.split / f"{path.stem}.txt"
        boxes, labels = read_yolo_labels(label_file, pixels.shape[1], pixels.shape[0])
        return torch.from_numpy(pixels.copy()).permute(2, 0, 1), boxes, labels


@register_dataset("shapes", splits=SPLITS, task="detection")
def shapes(
    split: str,
    root: str | Path | None = None,
    num_train: int = 64,
    num_val: int = 16,
    num_test: int = 0,
    imgsz: int = 64,
    max_objects: int = 3,
    seed: int = 0,
) -> ShapesDataset:
    """Split `split` of the `shapes` folder at `root` (default ``$SCRATCHLAB_CACHE/shapes``),
    written when missing."""
    folder = Path(root).expanduser() if root is not None else cache_dir() / "shapes"
    if split == "test" and num_test == 0:
        raise ConfigError("shapes has no test split unless num_test > 0; pass num_test=N")
    write_shapes_dataset(folder, num_train, num_val, num_test, imgsz, max_objects, seed)
    return ShapesDataset(folder, split)
