"""YOLO training throughput and accuracy on the synthetic `shapes` dataset, offline.

On a GPU: trains YOLOv8n at 640 px on generated `shapes` images (from scratch with
``yolov8n.yaml``, or fine-tuning local weights given with ``--weights``; nothing is downloaded)
and reports mAP50-95 and training images/s (validation time excluded). Without a GPU a tiny
run (64 px, a few images, one epoch) checks that the benchmark works.

    python bench/detect_speed.py [--weights yolov8n.pt] [--epochs 10] [--num-train 512] [--batch 64]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import torch

from common import device_name, record
from scratchlab.data.shapes import write_shapes_dataset
from scratchlab.detect import TrainConfig, train

# Images are generated at `data_imgsz` (fast to write) and trained at `imgsz`.
GPU_DEFAULTS = {
    "imgsz": 640,
    "data_imgsz": 320,
    "num_train": 512,
    "num_val": 64,
    "epochs": 10,
    "batch": 64,
    "workers": 8,
}
CPU_DEFAULTS = {
    "imgsz": 64,
    "data_imgsz": 64,
    "num_train": 16,
    "num_val": 8,
    "epochs": 1,
    "batch": 8,
    "workers": 0,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument(
        "--weights",
        default="yolov8n.yaml",
        help="local .pt to fine-tune, or a .yaml (from scratch)",
    )
    for key in GPU_DEFAULTS:
        p.add_argument(
            f"--{key.replace('_', '-')}",
            type=int,
            default=None,
            help=f"GPU default {GPU_DEFAULTS[key]}",
        )
    p.add_argument(
        "--data-dir",
        default=None,
        help="where to write the shapes dataset (default: a temp folder)",
    )
    p.add_argument("--out", default=None, help="run folder parent (default: a temp folder)")
    p.add_argument(
        "--no-record", action="store_true", help="print only; do not append to bench/results.jsonl"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    cuda = args.device != "cpu" and torch.cuda.is_available()
    device = ("cuda:0" if args.device == "auto" else args.device) if cuda else "cpu"
    sizes = {
        k: getattr(args, k) if getattr(args, k) is not None else v
        for k, v in (GPU_DEFAULTS if cuda else CPU_DEFAULTS).items()
    }
    with tempfile.TemporaryDirectory(prefix="detect_speed_") as tmp:
        data_dir = Path(args.data_dir or Path(tmp) / "shapes")
        data = write_shapes_dataset(
            data_dir,
            num_train=sizes["num_train"],
            num_val=sizes["num_val"],
            imgsz=sizes["data_imgsz"],
            max_objects=4,
            seed=0,
        )
        config = TrainConfig(
            data=str(data),
            model=args.weights,
            epochs=sizes["epochs"],
            imgsz=sizes["imgsz"],
            batch=sizes["batch"],
            device=device,
            out=args.out or str(Path(tmp) / "runs"),
            name="detect_speed",
            workers=sizes["workers"],
            val=False,
            plots=False,
            mosaic=0.0 if sizes["imgsz"] < 320 else 1.0,
            overrides={"cache": "ram", "deterministic": False} if cuda else {},
        )
        result = train(config)
    metrics = {
        "model": args.weights,
        "imgsz": sizes["imgsz"],
        "data_imgsz": sizes["data_imgsz"],
        "batch": sizes["batch"],
        "epochs": result.epochs,
        "train_images": result.train_images,
        "map50": result.metrics.map50,
        "map50_95": result.metrics.map50_95,
        "train_seconds": result.train_seconds,
        "images_per_second": result.images_per_second,
    }
    print(
        f"mAP50-95 {metrics['map50_95']:.4f}  training {metrics['images_per_second']:.1f} "
        "images/s "
        f"({result.train_images} images x {result.epochs} epochs in {result.train_seconds:.1f} "
        "s)"
    )
    if not args.no_record:
        record("detect_speed", device_name(device), metrics)
    return metrics


if __name__ == "__main__":
    main()
