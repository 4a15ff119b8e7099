"""`scratchlab detect ...`: predict, prepare-coco, train, val and grid.

Handlers import ultralytics and the detection modules only when they run, so that
``scratchlab --help`` stays fast.
"""

from __future__ import annotations

import argparse
from typing import Any

from scratchlab.errors import ConfigError

OPTIMIZER_CHOICES = ("SGD", "Adam", "AdamW")

# Shown under `detect --help` and `detect predict --help` (detect.offline.TRUST_NOTE says more).
WEIGHTS_ARE_CODE = ("Weights (.pt) are pickles, and loading one runs the code it holds: pass only "
                    "files from a source you trust, such as your own runs (docs/detection.md).")


def _parse_set(items: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` pairs (VALUE read as YAML: numbers, booleans, lists) -> dict."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set takes KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except (yaml.YAMLError, RecursionError) as exc:  # as config_flags._mapping reads YAML
            reason = getattr(exc, "problem", None) or type(exc).__name__
            raise ConfigError(f"--set {key.strip()}: {value[:60]!r} is not a YAML value "
                              f"({reason})") from None
    return out


def _add_training_args(p: argparse.ArgumentParser, default_out: str) -> None:
    p.add_argument("data", help="data.yaml of a YOLO-format dataset")
    p.add_argument(
        "--model",
        default="yolov8n.yaml",
        help="local .pt weights (fine-tune) or .yaml architecture (from scratch)",
    )
    p.add_argument("--imgsz", type=int, default=640, help="input size in pixels")
    p.add_argument("--batch", type=int, default=16, help="images per batch")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--out", default=default_out, help="folder for run folders")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=8, help="data loader processes")
    p.add_argument("--warmup-epochs", type=float, default=3.0)
    p.add_argument("--mosaic", type=float, default=1.0, help="mosaic augmentation probability")
    p.add_argument(
        "--nbs", type=int, default=None, help="nominal batch size (gradient accumulation target)"
    )
    p.add_argument("--no-plots", action="store_true", help="skip ultralytics' plots")
    p.add_argument("--no-val", action="store_true", help="validate only after the last epoch")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="any other ultralytics training argument",
    )


def _train_config(args: argparse.Namespace, **fields: Any):
    from scratchlab.detect.yolo import TrainConfig

    return TrainConfig(
        data=args.data,
        model=args.model,
        imgsz=args.imgsz,
        batch=args.batch,
        device=args.device,
        out=args.out,
        seed=args.seed,
        workers=args.workers,
        warmup_epochs=args.warmup_epochs,
        mosaic=args.mosaic,
        nbs=args.nbs,
        plots=not args.no_plots,
        val=not args.no_val,
        overrides=_parse_set(args.set),
        **fields,
    )


def _predict(args: argparse.Namespace) -> int:
    from scratchlab.detect.predict import detections_table, predict

    found = predict(
        args.weights,
        args.images,
        conf=args.conf,
        out=args.out,
        imgsz=args.imgsz,
        device=args.device,
    )
    print(detections_table(found))
    print(f"annotated images: {args.out}")
    return 0


def _prepare_coco(args: argparse.Namespace) -> int:
    from scratchlab.detect.coco import format_report, prepare_coco

    report = prepare_coco(
        args.annotations,
        args.images_dir,
        args.out,
        mapping=args.mapping,
        split=args.split,
        seed=args.seed,
        images=args.images,
        min_size=args.min_size,
    )
    print(format_report(report))
    return 0


def _train(args: argparse.Namespace) -> int:
    from scratchlab.detect.yolo import train

    config = _train_config(
        args,
        epochs=args.epochs,
        optimizer=args.optimizer,
        lr=args.lr,
        momentum=args.momentum,
        name=args.name,
    )
    result = train(config)
    print(result.metrics.summary())
    print(f"run folder: {result.run_dir}\nresults: {result.results_json}")
    return 0


def _val(args: argparse.Namespace) -> int:
    from scratchlab.detect.yolo import ValConfig, val

    result = val(
        ValConfig(
            data=args.data,
            weights=args.model,
            split=args.split,
            imgsz=args.imgsz,
            batch=args.batch,
            conf=args.conf,
            iou=args.iou,
            device=args.device,
            out=args.out,
            name=args.name,
            workers=args.workers,
            plots=not args.no_plots,
        )
    )
    print(result.metrics.summary())
    print(f"run folder: {result.run_dir}\nresults: {result.results_json}")
    return 0


def _grid(args: argparse.Namespace) -> int:
    from scratchlab.detect.grid import GridConfig, run_grid

    grid = GridConfig(
        optimizers=args.optimizers,
        lrs=args.lrs,
        momentums=args.momentums,
        epochs=args.epochs,
        final_epochs=args.final_epochs,
        metric=args.metric,
        out=args.out,
    )
    result = run_grid(grid, _train_config(args))
    if result.best is not None:
        print(f"best: {result.best.name}  {result.best.metrics.summary()}")
    print(
        f"summary: {result.summary}\nheatmaps: "
        f"{result.heatmaps[0].parent if result.heatmaps else '-'}"
    )
    failed = [e for e in result.entries if e.status == "failed"]
    return 1 if failed and len(failed) == len(result.entries) else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``scratchlab detect ...`` to the `scratchlab` parser."""
    detect = subparsers.add_parser(
        "detect", help="object detection with YOLO (ultralytics), offline", epilog=WEIGHTS_ARE_CODE
    )
    sub = detect.add_subparsers(
        dest="detect_command", metavar="SUBCOMMAND", parser_class=type(detect)
    )

    p = sub.add_parser(
        "predict", help="detect objects in images; print a table and save drawn images",
        epilog=WEIGHTS_ARE_CODE,
    )
    p.add_argument(
        "weights", help="local .pt weights file (never downloaded) or .yaml architecture"
    )
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--conf", type=float, default=0.25, help="confidence threshold")
    p.add_argument("--out", default="runs/detect/predict", help="folder for the annotated images")
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_predict)

    p = sub.add_parser("prepare-coco", help="convert COCO annotations to a YOLO dataset folder")
    p.add_argument("annotations", help="COCO annotations JSON")
    p.add_argument("images_dir", help="folder the COCO file names are relative to")
    p.add_argument("out", help="output folder")
    p.add_argument("--mapping", default=None, help="taco7, none (default) or a mapping YAML file")
    p.add_argument(
        "--split",
        type=float,
        nargs="+",
        default=[0.7, 0.15, 0.15],
        help="train val [test] fractions",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--images",
        choices=("symlink", "copy", "none"),
        default="symlink",
        help="symlink or copy images into OUT, or none (labels only)",
    )
    p.add_argument(
        "--min-size",
        type=float,
        default=1.0,
        help="drop boxes thinner than this (pixels) after clipping",
    )
    p.set_defaults(func=_prepare_coco)

    p = sub.add_parser(
        "train", help="train a YOLO detector; metrics go to results.json in the run folder"
    )
    _add_training_args(p, "runs/detect")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--optimizer", choices=OPTIMIZER_CHOICES, default="SGD")
    p.add_argument("--lr", type=float, default=0.01, help="initial learning rate")
    p.add_argument("--momentum", type=float, default=0.937, help="SGD momentum or Adam beta1")
    p.add_argument("--name", default="train", help="run folder name (overwritten if present)")
    p.set_defaults(func=_train)

    p = sub.add_parser(
        "val", help="validate weights on a dataset split; metrics go to results.json"
    )
    p.add_argument("data", help="data.yaml of a YOLO-format dataset")
    p.add_argument("--model", required=True, help="trained .pt weights")
    p.add_argument("--split", default="val", choices=("train", "val", "test"))
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--conf", type=float, default=0.001)
    p.add_argument("--iou", type=float, default=0.7)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="runs/detect")
    p.add_argument("--name", default="val")
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--no-plots", action="store_true")
    p.set_defaults(func=_val)

    p = sub.add_parser(
        "grid", help="optimizer x lr x momentum grid (resumable), heatmaps, retrain the best"
    )
    _add_training_args(p, "runs/grid")
    p.add_argument(
        "--optimizers", nargs="+", choices=OPTIMIZER_CHOICES, default=["SGD", "Adam", "AdamW"]
    )
    p.add_argument("--lrs", type=float, nargs="+", default=[0.01, 0.005, 0.001, 0.0005, 0.0001])
    p.add_argument(
        "--momentums",
        type=float,
        nargs="+",
        default=[0.1, 0.5, 0.9],
        help="momentum (beta1 for Adam)",
    )
    p.add_argument("--epochs", type=int, default=5, help="epochs per combination")
    p.add_argument(
        "--final-epochs", type=int, default=100, help="epochs to retrain the best (0: none)"
    )
    p.add_argument(
        "--metric", choices=("map50", "map50_95"), default="map50_95", help="picks the best"
    )
    p.set_defaults(func=_grid)

    detect.set_defaults(func=lambda args: detect.error(
        "give a subcommand: predict, prepare-coco, train, val or grid"))
