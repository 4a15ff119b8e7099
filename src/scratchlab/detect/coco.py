"""COCO annotations -> a YOLO-format folder (``images/``, ``labels/``, ``data.yaml``).

Categories are re-mapped (`scratchlab.detect.mappings`), boxes are clipped to their image and
dropped when nothing is left of them, images are split train/val/test at random (seeded), and a
class-count table is written beside the data. Every annotation of the input is accounted for:
``kept + clipped + dropped_degenerate + dropped_unmapped + dropped_orphan == total_annotations``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import yaml

from scratchlab.detect.mappings import CategoryMapping, mapping_table, resolve_mapping
from scratchlab.errors import ConfigError, DatasetNotFoundError
from scratchlab.util import atomic_write_json, atomic_write_text, progress

IMAGE_MODES = ("symlink", "copy", "none")
SPLITS = ("train", "val", "test")


@dataclass
class PrepareReport:
    """What `prepare_coco` did: box accounting, images per split and boxes per class and split."""

    total_annotations: int
    kept: int
    clipped: int
    dropped_degenerate: int
    dropped_unmapped: int
    dropped_orphan: int
    images: dict[str, int]
    classes: list[str]
    class_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    data_yaml: Path = Path()

    @property
    def dropped(self) -> int:
        """Boxes not written: degenerate after clipping, unmapped category, or unknown image."""
        return self.dropped_degenerate + self.dropped_unmapped + self.dropped_orphan

    @property
    def accounted(self) -> int:
        """kept + clipped + dropped; equals `total_annotations`."""
        return self.kept + self.clipped + self.dropped


def clip_box(bbox: Sequence[float], width: float, height: float) -> tuple[np.ndarray, bool]:
    """COCO ``[x, y, w, h]`` -> (xyxy clipped to the image, whether clipping changed it)."""
    x, y, w, h = (float(v) for v in bbox)
    raw = np.array([min(x, x + w), min(y, y + h), max(x, x + w), max(y, y + h)])
    clipped = np.clip(raw, 0, [width, height, width, height])
    return clipped, bool(np.abs(clipped - raw).max() > 1e-6)


def split_images(image_ids: Sequence[int], fractions: Sequence[float], seed: int) -> dict[int, str]:
    """Assign each image id to train/val[/test] at random with the given fractions."""
    fractions = [float(f) for f in fractions]
    if len(fractions) not in (2, 3) or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
        raise ConfigError(
            f"--split takes 2 or 3 non-negative fractions that add up to 1, got {fractions}"
        )
    ids = np.array(sorted(image_ids))
    order = ids[np.random.default_rng(seed).permutation(len(ids))]
    n_train = round(fractions[0] * len(ids))
    n_val = round(fractions[1] * len(ids)) if len(fractions) == 3 else len(ids) - n_train
    sizes = {"train": n_train, "val": n_val, "test": len(ids) - n_train - n_val}
    assignment, start = {}, 0
    for split in SPLITS:
        for image_id in order[start : start + sizes[split]]:
            assignment[int(image_id)] = split
        start += sizes[split]
    return assignment


def _safe_relpath(file_name: str) -> PurePosixPath:
    parts = [
        p
        for p in PurePosixPath(file_name.replace("\\", "/")).parts
        if p not in ("", "/", "..", ".")
    ]
    if not parts:
        raise ConfigError(f"image file name {file_name!r} is empty")
    return PurePosixPath(*parts)


def _yolo_line(cls: int, box: np.ndarray, width: float, height: float) -> str:
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2 / width, (y0 + y1) / 2 / height
    return f"{cls} {cx:.6f} {cy:.6f} {(x1 - x0) / width:.6f} {(y1 - y0) / height:.6f}"


def _place_image(source: Path, target: Path, mode: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if mode == "symlink":
        os.symlink(source.resolve(), target)
    elif mode == "copy":
        shutil.copy2(source, target)


def load_coco(path: str | Path) -> dict:
    """Read a COCO annotations JSON with ``images``, ``annotations`` and ``categories``."""
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise DatasetNotFoundError(f"annotations file {path} not found") from None
    except (OSError, ValueError, RecursionError) as exc:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise ConfigError(f"cannot read COCO annotations {path}: {reason}") from None
    if not isinstance(doc, dict) or not all(
            k in doc for k in ("images", "annotations", "categories")):
        raise ConfigError(f"{path} is not COCO: it needs 'images', 'annotations' and 'categories'")
    return doc


def prepare_coco(
    annotations: str | Path,
    images_dir: str | Path,
    out: str | Path,
    mapping: str | None = None,
    split: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    images: str = "symlink",
    min_size: float = 1.0,
) -> PrepareReport:
    """Convert COCO annotations (+ their images) into a YOLO-format folder at `out`.

    Args:
        annotations: COCO JSON file.
        images_dir: Folder the COCO ``file_name`` entries are relative to.
        out: Output folder; its ``images/`` and ``labels/`` are rewritten.
        mapping: ``None``/``"none"`` (keep categories), ``"taco7"`` or a mapping YAML path.
        split: Train/val[/test] fractions of the images.
        seed: Seed of the random split.
        images: ``symlink`` or ``copy`` the images into `out`, or ``none`` (labels only).
        min_size: Boxes narrower or lower than this many pixels after clipping are dropped.
    """
    if images not in IMAGE_MODES:
        raise ConfigError(f"images mode {images!r} is not one of {', '.join(IMAGE_MODES)}")
    doc = load_coco(annotations)
    cmap = resolve_mapping(mapping, doc["categories"])
    cats = {c["id"]: c for c in doc["categories"]}
    targets = {cid: cmap.target(c["name"], c.get("supercategory")) for cid, c in cats.items()}
    class_index = {name: i for i, name in enumerate(cmap.classes)}
    image_info = {im["id"]: im for im in doc["images"]}
    assignment = split_images(list(image_info), split, seed)
    src_root, out = Path(images_dir), Path(out)
    if images != "none":
        missing = [
            im["file_name"] for im in doc["images"] if not (src_root / im["file_name"]).is_file()
        ]
        if missing:
            raise DatasetNotFoundError(
                f"{len(missing)} of {len(doc['images'])} images not found under {src_root} (e.g. "
                f"{missing[0]}); "
                "fix IMAGES_DIR or pass --images none to write labels only"
            )
    counts: Counter[str] = Counter()
    lines: dict[int, list[str]] = {i: [] for i in image_info}
    per_class: dict[str, Counter[str]] = {s: Counter() for s in SPLITS}
    for ann in doc["annotations"]:
        im = image_info.get(ann["image_id"])
        target = targets.get(ann["category_id"])
        if im is None:
            counts["orphan"] += 1
            continue
        if target is None:
            counts["unmapped"] += 1
            continue
        box, changed = clip_box(ann["bbox"], im["width"], im["height"])
        if min(box[2] - box[0], box[3] - box[1]) < min_size:
            counts["degenerate"] += 1
            continue
        counts["clipped" if changed else "kept"] += 1
        lines[im["id"]].append(_yolo_line(class_index[target], box, im["width"], im["height"]))
        per_class[assignment[im["id"]]][target] += 1
    _write_folder(out, image_info, assignment, lines, src_root, images)
    used_splits = [s for s in SPLITS if any(v == s for v in assignment.values())]
    spec: dict = {s: f"images/{s}" for s in used_splits}
    spec["names"] = dict(enumerate(cmap.classes))
    data_yaml = atomic_write_text(out / "data.yaml", yaml.safe_dump(spec, sort_keys=False))
    report = PrepareReport(
        total_annotations=len(doc["annotations"]),
        kept=counts["kept"],
        clipped=counts["clipped"],
        dropped_degenerate=counts["degenerate"],
        dropped_unmapped=counts["unmapped"],
        dropped_orphan=counts["orphan"],
        images={s: sum(v == s for v in assignment.values()) for s in SPLITS},
        classes=list(cmap.classes),
        class_counts={c: {s: per_class[s][c] for s in SPLITS} for c in cmap.classes},
        data_yaml=data_yaml,
    )
    _write_tables(out, report, cmap, doc["categories"])
    return report


def _write_folder(
    out: Path, image_info: dict, assignment: dict, lines: dict, src_root: Path, mode: str
) -> None:
    for kind in ("images", "labels"):
        shutil.rmtree(out / kind, ignore_errors=True)
    for image_id, im in progress(image_info.items(), desc="writing labels"):
        rel = _safe_relpath(im["file_name"])
        split = assignment[image_id]
        label = (out / "labels" / split / rel).with_suffix(".txt")
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("".join(f"{line}\n" for line in lines[image_id]))
        if mode != "none":
            _place_image(src_root / im["file_name"], out / "images" / split / rel, mode)


def class_count_rows(report: PrepareReport) -> list[dict[str, object]]:
    """One row per class (boxes per split and total), then a total row."""
    rows: list[dict[str, object]] = []
    for cls in [*report.classes, "total"]:
        if cls == "total":
            row = {s: sum(report.class_counts[c][s] for c in report.classes) for s in SPLITS}
        else:
            row = dict(report.class_counts[cls])
        rows.append({"class": cls, **row, "all": sum(row.values())})
    return rows


def _write_tables(
    out: Path, report: PrepareReport, cmap: CategoryMapping, categories: list[dict]
) -> None:
    rows = class_count_rows(report)
    header = ["class", *SPLITS, "all"]
    csv = "\n".join(
        ",".join(str(r[h]) for h in header) for r in [dict(zip(header, header, strict=True)), *rows]
    )
    atomic_write_text(out / "class_counts.csv", csv + "\n")
    atomic_write_json(out / "class_counts.json", rows)
    summary = {k: v for k, v in asdict(report).items() if k != "data_yaml"}
    summary["mapping"] = [
        {"supercategory": s, "category": n, "class": t}
        for s, n, t in mapping_table(cmap, categories)
    ]
    atomic_write_json(out / "prepare_report.json", summary)


def format_report(report: PrepareReport) -> str:
    """The class-count table and the box accounting as text."""
    width = max(len(c) for c in [*report.classes, "class", "total"])
    head = f"{'class':<{width}} " + " ".join(f"{s:>7}" for s in (*SPLITS, "all"))
    body = [
        f"{r['class']:<{width}} " + " ".join(f"{r[s]:>7}" for s in (*SPLITS, "all"))
        for r in class_count_rows(report)
    ]
    images = ", ".join(f"{report.images[s]} {s}" for s in SPLITS)
    boxes = (
        f"boxes: {report.total_annotations} in annotations = {report.kept} kept + {report.clipped} "
        "clipped + "
        f"{report.dropped_degenerate} dropped (degenerate) + {report.dropped_unmapped} dropped "
        "(unmapped) + "
        f"{report.dropped_orphan} dropped (no image)"
    )
    return "\n".join([head, *body, f"images: {images}", boxes, f"data: {report.data_yaml}"])
