"""Predict with ultralytics YOLO weights, offline, and print the detections as a table.

    from scratchlab.detect import predict
    found = predict("yolov8n.pt", ["street.jpg"], conf=0.25)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from scratchlab.detect.offline import check_model, load_model
from scratchlab.detect.results import Detection, ImageDetections
from scratchlab.detect.yolo import ultralytics_device
from scratchlab.errors import ConfigError, DatasetNotFoundError


def predict(
    weights: str | Path,
    images: Sequence[str | Path],
    conf: float = 0.25,
    out: str | Path | None = None,
    imgsz: int = 640,
    device: str = "auto",
) -> list[ImageDetections]:
    """Detect objects in `images`; with `out`, also save each image with its boxes drawn there."""
    check_model(weights)
    paths = [Path(p).expanduser() for p in images]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise DatasetNotFoundError(
            f"image not found: {missing[0]} ({len(missing)} missing); check the paths"
        )
    if not paths:
        raise ConfigError("no images given; pass one or more image files")
    model = load_model(weights)
    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    found = []
    for path in paths:
        res = model.predict(
            source=str(path),
            conf=conf,
            imgsz=imgsz,
            device=ultralytics_device(device),
            verbose=False,
            save=False,
        )[0]
        boxes = res.boxes
        dets = [
            Detection(tuple(float(v) for v in xyxy), int(c), str(res.names[int(c)]), float(p))
            for xyxy, c, p in zip(
                boxes.xyxy.tolist(), boxes.cls.tolist(), boxes.conf.tolist(), strict=True
            )
        ]
        saved = None
        if out_dir is not None:
            saved = out_dir / f"{path.stem}_pred{path.suffix or '.jpg'}"
            res.save(filename=str(saved))
        found.append(ImageDetections(path, dets, saved))
    return found


def detections_table(found: Sequence[ImageDetections]) -> str:
    """A plain-text table: image, class, confidence, box corners."""
    rows = [f"{'image':<28} {'class':<16} {'conf':>6}  {'x0':>7} {'y0':>7} {'x1':>7} {'y1':>7}"]
    for item in found:
        if not item.detections:
            rows.append(f"{item.path.name:<28} {'(none)':<16}")
        for d in item.detections:
            x0, y0, x1, y1 = d.xyxy
            rows.append(
                f"{item.path.name:<28} {d.name:<16} {d.conf:>6.3f}  {x0:>7.1f} {y0:>7.1f} "
                f"{x1:>7.1f} {y1:>7.1f}"
            )
    return "\n".join(rows)
