"""The synthetic `shapes` detection dataset: labels are inside the image and match drawn objects."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from scratchlab.data import get_dataset
from scratchlab.data.shapes import CLASSES, make_image, write_shapes_dataset
from scratchlab.errors import ConfigError

# Area of each shape relative to its box: square, circle (pi/4), triangle (1/2).
FILL = {0: 1.0, 1: math.pi / 4, 2: 0.5}


@pytest.fixture(scope="module")
def shapes_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("shapes")
    write_shapes_dataset(out, num_train=16, num_val=6, num_test=4, imgsz=64, max_objects=4, seed=3)
    return out


def read_labels(path):
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return [(int(r[0]), *map(float, r[1:])) for r in rows]


def object_mask(pixels: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    """Pixels far from the background colour (median of the pixels outside every box)."""
    outside = np.ones(pixels.shape[:2], bool)
    for x0, y0, x1, y1 in boxes:
        outside[y0:y1, x0:x1] = False
    background = np.median(pixels[outside], axis=0)
    return np.abs(pixels.astype(float) - background).max(axis=2) > 45


def test_data_yaml_lists_splits_and_names(shapes_dir):
    spec = yaml.safe_load((shapes_dir / "data.yaml").read_text())
    assert spec["names"] == dict(enumerate(CLASSES))
    for split, count in (("train", 16), ("val", 6), ("test", 4)):
        assert len(list((shapes_dir / spec[split]).glob("*.png"))) == count
        assert len(list((shapes_dir / "labels" / split).glob("*.txt"))) == count


def test_every_label_is_inside_the_image_and_matches_a_drawn_object(shapes_dir):
    checked = 0
    for image_file in sorted((shapes_dir / "images").rglob("*.png")):
        split = image_file.parent.name
        pixels = np.asarray(Image.open(image_file).convert("RGB"))
        h, w = pixels.shape[:2]
        labels = read_labels(shapes_dir / "labels" / split / f"{image_file.stem}.txt")
        assert 1 <= len(labels) <= 4
        boxes = []
        for cls, cx, cy, bw, bh in labels:
            assert 0 <= cls < len(CLASSES)
            x0, y0, x1, y1 = (
                (cx - bw / 2) * w,
                (cy - bh / 2) * h,
                (cx + bw / 2) * w,
                (cy + bh / 2) * h,
            )
            eps = 1e-3  # labels keep 6 decimals
            assert -eps <= x0 < x1 <= w + eps and -eps <= y0 < y1 <= h + eps
            boxes.append(tuple(round(v) for v in (x0, y0, x1, y1)))
        mask = object_mask(pixels, boxes)
        covered = np.zeros_like(mask)
        for (cls, *_), (x0, y0, x1, y1) in zip(labels, boxes, strict=True):
            inside = mask[y0:y1, x0:x1]
            # the drawn shape fills its box as that shape should ...
            assert inside.mean() == pytest.approx(FILL[cls], abs=0.15), (image_file, cls)
            # ... touches (within a pixel) all four sides of the box ...
            assert (
                inside[:2].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()
            )
            # ... and has one colour, distinct from the background.
            colours = pixels[y0:y1, x0:x1][inside].astype(float)
            assert colours.std(axis=0).max() < 20
            covered[y0:y1, x0:x1] = True
            checked += 1
        assert mask[~covered].mean() < 0.001  # no object outside the labelled boxes
    assert checked >= 26


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    a = write_shapes_dataset(tmp_path / "a", num_train=3, num_val=2, imgsz=48, seed=1).parent
    b = write_shapes_dataset(tmp_path / "b", num_train=3, num_val=2, imgsz=48, seed=1).parent
    c = write_shapes_dataset(tmp_path / "c", num_train=3, num_val=2, imgsz=48, seed=2).parent
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    first = "images/train/000000.png"
    assert (a / first).read_bytes() != (c / first).read_bytes()


def test_registry_builds_once_and_returns_tensors(tmp_path):
    ds = get_dataset(
        "shapes", "val", root=tmp_path, num_train=4, num_val=3, imgsz=32, max_objects=2
    )
    assert len(ds) == 3 and ds.classes == list(CLASSES)
    image, boxes, labels = ds[0]
    assert image.dtype == torch.uint8 and image.shape == (3, 32, 32)
    assert boxes.dtype == torch.float32 and boxes.shape == (len(labels), 4)
    assert labels.dtype == torch.int64
    rows = read_labels(tmp_path / "labels" / "val" / "000000.txt")
    expected = [
        [(cx - w / 2) * 32, (cy - h / 2) * 32, (cx + w / 2) * 32, (cy + h / 2) * 32]
        for _, cx, cy, w, h in rows
    ]
    torch.testing.assert_close(boxes, torch.tensor(expected, dtype=torch.float32))
    stamp = (tmp_path / "images/train/000000.png").stat().st_mtime_ns
    get_dataset("shapes", "train", root=tmp_path, num_train=4, num_val=3, imgsz=32, max_objects=2)
    # reused, not rewritten
    assert (tmp_path / "images/train/000000.png").stat().st_mtime_ns == stamp
    get_dataset("shapes", "train", root=tmp_path, num_train=5, num_val=3, imgsz=32, max_objects=2)
    assert len(list((tmp_path / "images/train").glob("*.png"))) == 5  # other options: rewritten


def test_bad_options_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="num_test"):
        get_dataset("shapes", "test", root=tmp_path, num_train=2, num_val=1)
    with pytest.raises(ConfigError, match="imgsz"):
        write_shapes_dataset(tmp_path, imgsz=8)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), imgsz=st.integers(32, 96), max_objects=st.integers(1, 6))
def test_make_image_boxes_are_inside_and_disjoint(seed, imgsz, max_objects):
    pixels, boxes, classes = make_image(np.random.default_rng(seed), imgsz, max_objects)
    assert pixels.shape == (imgsz, imgsz, 3) and pixels.dtype == np.uint8
    assert 1 <= len(boxes) <= max_objects and len(classes) == len(boxes)
    assert (
        (boxes[:, :2] >= 0).all()
        and (boxes[:, 2:] <= imgsz).all()
        and (boxes[:, 2:] > boxes[:, :2]).all()
    )
    for i in range(len(boxes)):
        for j in range(i):
            a, b = boxes[i], boxes[j]
            assert a[0] >= b[2] or b[0] >= a[2] or a[1] >= b[3] or b[1] >= a[3]
