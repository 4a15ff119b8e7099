"""COCO -> YOLO conversion: clipping, accounting, splits, mappings, on made-up and real TACO
data."""

from __future__ import annotations

import json
import os
from collections import Counter

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from scratchlab.detect.coco import clip_box, prepare_coco, split_images
from scratchlab.detect.mappings import TACO7_CLASSES
from scratchlab.errors import ConfigError, DatasetNotFoundError


def test_clip_box_keeps_inside_boxes_and_clips_overflow():
    box, changed = clip_box([10, 20, 30, 40], 100, 100)
    assert box.tolist() == [10, 20, 40, 60] and not changed
    box, changed = clip_box([-5, 90, 30, 40], 100, 100)
    assert box.tolist() == [0, 90, 25, 100] and changed
    box, changed = clip_box([50, 50, -20, -10], 100, 100)  # negative size: corners swapped
    assert box.tolist() == [30, 40, 50, 50] and not changed
    box, changed = clip_box([120, 10, 30, 30], 100, 100)  # fully outside: nothing left
    assert box[2] - box[0] == 0 and changed


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 300), train=st.floats(0, 1), seed=st.integers(0, 10))
def test_split_images_is_a_seeded_partition(n, train, seed):
    val = (1 - train) / 2
    fractions = (train, val, 1 - train - val)
    ids = list(range(100, 100 + n))
    a = split_images(ids, fractions, seed)
    assert a == split_images(list(reversed(ids)), fractions, seed)
    assert sorted(a) == ids
    counts = Counter(a.values())
    assert counts["train"] == round(train * n) and counts["val"] == round(val * n)


def test_split_fractions_must_add_up():
    with pytest.raises(ConfigError, match="add up to 1"):
        split_images([1, 2, 3], (0.5, 0.2, 0.2), 0)


def write_png(path, width, height):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height), (90, 90, 90)).save(path)


@pytest.fixture
def small_coco(tmp_path):
    """Four images; boxes inside, overflowing, degenerate, of an unmapped category, of no image."""
    images = [
        {"id": i, "file_name": f"batch_{i % 2}/img{i}.jpg", "width": 40 + i, "height": 30}
        for i in range(4)
    ]
    cats = [
        {"id": 1, "name": "cat", "supercategory": "animal"},
        {"id": 2, "name": "dog", "supercategory": "animal"},
        {"id": 3, "name": "car", "supercategory": "vehicle"},
    ]
    anns = [
        {"id": 1, "image_id": 0, "category_id": 1, "bbox": [2, 3, 10, 8]},  # inside
        # overflows right/bottom
        {"id": 2, "image_id": 1, "category_id": 2, "bbox": [35, 20, 20, 20]},
        # starts beyond the right edge
        {"id": 3, "image_id": 2, "category_id": 1, "bbox": [42, 5, 10, 10]},
        {"id": 4, "image_id": 3, "category_id": 3, "bbox": [1, 1, 5, 5]},  # category 'car'
        {"id": 5, "image_id": 99, "category_id": 1, "bbox": [1, 1, 5, 5]},  # no such image
    ]
    ann_file = tmp_path / "ann.json"
    ann_file.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    for im in images:
        write_png(tmp_path / "src" / im["file_name"], im["width"], im["height"])
    return ann_file, tmp_path / "src", images


def read_label_lines(out):
    return {
        p.relative_to(out / "labels"): p.read_text().splitlines()
        for p in (out / "labels").rglob("*.txt")
    }


@pytest.mark.parametrize("mode", ["symlink", "copy"])
def test_prepare_small_coco_accounts_for_every_box(small_coco, tmp_path, mode):
    ann_file, src, images = small_coco
    mapping = tmp_path / "map.yaml"
    mapping.write_text(yaml.safe_dump({"pet": ["animal"]}))  # 'car' is not mapped
    out = tmp_path / "out"
    report = prepare_coco(
        ann_file, src, out, mapping=str(mapping), split=(0.5, 0.5), seed=1, images=mode
    )
    assert (
        report.kept,
        report.clipped,
        report.dropped_degenerate,
        report.dropped_unmapped,
        report.dropped_orphan,
    ) == (1, 1, 1, 1, 1)
    assert report.accounted == report.total_annotations == 5
    assert yaml.safe_load((out / "data.yaml").read_text()) == {
        "train": "images/train",
        "val": "images/val",
        "names": {0: "pet"},
    }
    labels = {path.name: lines for path, lines in read_label_lines(out).items()}
    assert len(labels) == 4 and labels["img2.txt"] == [] and labels["img3.txt"] == []
    expected0 = [0, (2 + 5) / 40, (3 + 4) / 30, 10 / 40, 8 / 30]
    np.testing.assert_allclose(
        [float(v) for v in labels["img0.txt"][0].split()], expected0, atol=1e-6
    )
    # clipped to the 41x30 image
    expected1 = [0, (35 + 41) / 2 / 41, (20 + 30) / 2 / 30, 6 / 41, 10 / 30]
    np.testing.assert_allclose(
        [float(v) for v in labels["img1.txt"][0].split()], expected1, atol=1e-6
    )
    for im in images:
        placed = next((out / "images").rglob(os.path.basename(im["file_name"])))
        assert placed.is_symlink() == (mode == "symlink")
        assert placed.read_bytes() == (src / im["file_name"]).read_bytes()
    rows = json.loads((out / "class_counts.json").read_text())
    assert rows[-1]["class"] == "total" and rows[-1]["all"] == report.kept + report.clipped


def test_missing_images_are_one_clear_error(small_coco, tmp_path):
    ann_file, src, images = small_coco
    os.remove(src / images[0]["file_name"])
    with pytest.raises(DatasetNotFoundError, match="1 of 4 images not found"):
        prepare_coco(ann_file, src, tmp_path / "out")
    report = prepare_coco(ann_file, src, tmp_path / "out", images="none")
    assert report.classes == ["cat", "dog", "car"] and report.dropped_unmapped == 0
    assert not (tmp_path / "out" / "images").exists()


def stand_in_images(coco: dict, folder):
    """A 1-colour JPEG per distinct recorded size, linked under every file name of that size."""
    made = {}
    for im in coco["images"]:
        size = (im["width"], im["height"])
        if size not in made:
            made[size] = folder / "_sizes" / f"{size[0]}x{size[1]}.jpg"
            made[size].parent.mkdir(parents=True, exist_ok=True)
            Image.new("L", size, 128).save(made[size], quality=10)
        target = folder / im["file_name"]
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(made[size], target)


def _overflows(bbox, image) -> bool:
    x, y, w, h = bbox
    return x < 0 or y < 0 or x + w > image["width"] or y + h > image["height"]


@pytest.fixture(scope="module")
def taco_yolo(taco_annotations, tmp_path_factory):
    """The real TACO annotations with stand-in images, converted with the taco7 mapping."""
    tmp = tmp_path_factory.mktemp("taco")
    coco = json.loads(taco_annotations.read_text())
    stand_in_images(coco, tmp / "taco")
    report = prepare_coco(taco_annotations, tmp / "taco", tmp / "yolo", mapping="taco7", seed=0)
    return coco, report, tmp / "yolo"


def test_prepare_real_taco_to_seven_classes(taco_yolo):
    coco, report, out = taco_yolo
    images = {im["id"]: im for im in coco["images"]}
    n_images, n_boxes = len(coco["images"]), len(coco["annotations"])
    assert (n_images, n_boxes) == (1500, 4784)  # the file the task describes
    assert report.total_annotations == n_boxes
    assert report.kept + report.clipped + report.dropped == n_boxes
    assert report.dropped_unmapped == report.dropped_orphan == 0
    assert report.classes == list(TACO7_CLASSES)
    assert report.images == {
        "train": round(0.7 * n_images),
        "val": round(0.15 * n_images),
        "test": n_images - round(0.7 * n_images) - round(0.15 * n_images),
    }
    labels = read_label_lines(out)
    assert len(labels) == n_images
    values = np.array(
        [[float(v) for v in line.split()] for lines in labels.values() for line in lines]
    )
    assert len(values) == report.kept + report.clipped
    corners = np.concatenate(
        [values[:, 1:3] - values[:, 3:5] / 2, values[:, 1:3] + values[:, 3:5] / 2], 1
    )
    assert corners.min() >= -1e-6 and corners.max() <= 1 + 1e-6 and (values[:, 3:] > 0).all()
    overflowing = sum(_overflows(a["bbox"], images[a["image_id"]]) for a in coco["annotations"])
    assert report.clipped + report.dropped_degenerate == overflowing > 0
    counts = Counter(TACO7_CLASSES[int(c)] for c in values[:, 0])
    assert counts == Counter({c: sum(report.class_counts[c].values()) for c in TACO7_CLASSES})
    assert set(counts) == set(TACO7_CLASSES)
    csv_rows = (out / "class_counts.csv").read_text().splitlines()
    assert csv_rows[0] == "class,train,val,test,all"
    assert csv_rows[-1].split(",")[-1] == str(len(values))
    assert sum(1 for _ in (out / "images").rglob("*.[jJ][pP][gG]")) == n_images


def test_real_taco_labels_pass_ultralytics_checks(taco_yolo, ultralytics):
    from ultralytics.data.utils import verify_image_label

    out = taco_yolo[2]
    corrupt = []
    for image in sorted((out / "images").rglob("*.*")):
        rel = image.relative_to(out / "images")
        label = (out / "labels" / rel).with_suffix(".txt")
        result = verify_image_label(
            (str(image), str(label), "", False, len(TACO7_CLASSES), 0, 0, False)
        )
        if result[0] is None or (result[-1] and "duplicate" not in result[-1]):
            corrupt.append((rel, result[-1]))
    assert corrupt == []
