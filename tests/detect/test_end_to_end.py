"""Offline end to end on `shapes`: train YOLOv8n from scratch, val, predict, a 2x2x2 grid.

The whole module runs with the network blocked; the last test checks that nothing tried to connect.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image

from scratchlab.data.shapes import CLASSES, write_shapes_dataset

IMGSZ = 64


@pytest.fixture(scope="module")
def process_state():
    """Process-wide settings before this module: ultralytics must leave them as they were."""
    import torch

    return (
        np.get_printoptions(),
        torch.are_deterministic_algorithms_enabled(),
        os.environ.get("OMP_NUM_THREADS"),
    )


@pytest.fixture(scope="module")
def shapes_yaml(tmp_path_factory, process_state, no_network, ultralytics) -> Path:
    return write_shapes_dataset(
        tmp_path_factory.mktemp("shapes"), num_train=64, num_val=32, imgsz=IMGSZ, seed=0
    )


def base_config(data: Path, out: Path, **changes):
    from scratchlab.detect import TrainConfig

    fields = dict(
        data=str(data),
        model="yolov8n.yaml",
        imgsz=IMGSZ,
        batch=8,
        nbs=8,
        optimizer="SGD",
        lr=0.02,
        momentum=0.9,
        warmup_epochs=0,
        mosaic=0.0,
        val=False,
        device="cpu",
        workers=0,
        seed=0,
        out=str(out),
        overrides={"scale": 0.0},
    )
    return TrainConfig(**{**fields, **changes})


@pytest.fixture(scope="module")
def trained(shapes_yaml, tmp_path_factory):
    from scratchlab.detect import train

    return train(
        base_config(
            shapes_yaml, tmp_path_factory.mktemp("runs"), epochs=12, name="shapes", plots=True
        )
    )


def fresh_model_map50(weights: Path, data: Path, out: Path) -> float:
    """mAP50 of the same architecture with freshly initialised weights (the chance baseline)."""
    import torch
    from ultralytics.nn.tasks import DetectionModel

    from scratchlab.detect import load_model

    torch.manual_seed(0)
    yolo = load_model(weights)
    fresh = DetectionModel(yolo.model.yaml, nc=len(yolo.model.names), verbose=False)
    fresh.names, fresh.args = yolo.model.names, yolo.model.args
    yolo.model = fresh
    metrics = yolo.val(
        data=str(data),
        imgsz=IMGSZ,
        device="cpu",
        workers=0,
        plots=False,
        verbose=False,
        project=str(out),
        name="baseline",
        exist_ok=True,
    )
    return float(metrics.box.map50)


def test_training_beats_the_untrained_model(trained, shapes_yaml, tmp_path):
    baseline = fresh_model_map50(trained.weights, shapes_yaml, tmp_path)
    assert trained.metrics.map50 > baseline + 0.1, (trained.metrics, baseline)
    assert trained.epochs == 12 and trained.train_images == 64 and trained.images_per_second > 0


def test_results_json_and_ultralytics_plots(trained):
    doc = json.loads(trained.results_json.read_text())
    assert set(doc) >= {"config", "results", "environment"}
    assert doc["config"]["model"] == "yolov8n.yaml" and doc["config"]["epochs"] == 12
    results = doc["results"]
    assert results["map50"] == pytest.approx(trained.metrics.map50)
    assert set(results) >= {"map50", "map50_95", "precision", "recall", "per_class_ap50_95"}
    assert set(results["per_class_ap50_95"]) <= set(CLASSES) and results["per_class_ap50_95"]
    assert 0 <= results["map50_95"] <= results["map50"] <= 1
    assert doc["environment"]["ultralytics"] and doc["environment"]["torch"]
    for plot in ("results.png", "confusion_matrix.png", "BoxPR_curve.png"):
        assert (trained.run_dir / plot).is_file(), plot


def test_val_reproduces_the_final_metrics(trained, shapes_yaml, tmp_path):
    from scratchlab.detect import ValConfig, val

    result = val(
        ValConfig(
            data=str(shapes_yaml),
            weights=str(trained.weights),
            imgsz=IMGSZ,
            device="cpu",
            workers=0,
            out=str(tmp_path),
            plots=False,
        )
    )
    assert result.metrics.map50 == pytest.approx(trained.metrics.map50, abs=0.01)
    assert json.loads(result.results_json.read_text())["results"]["map50"] == result.metrics.map50


def test_predict_cli_prints_table_and_saves_drawn_images(trained, shapes_yaml, tmp_path, capsys):
    from scratchlab.cli import main

    images = sorted((shapes_yaml.parent / "images" / "val").glob("*.png"))[:3]
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "detect",
                "predict",
                str(trained.weights),
                *map(str, images),
                "--conf",
                "0.1",
                "--imgsz",
                str(IMGSZ),
                "--device",
                "cpu",
                "--out",
                str(tmp_path / "pred"),
            ]
        )
    assert exit_info.value.code == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:3] == ["image", "class", "conf"]
    assert any(name in table for name in CLASSES)
    changed = 0
    for image in images:
        drawn = tmp_path / "pred" / f"{image.stem}_pred.png"
        assert image.name in table and drawn.is_file()
        changed += not np.array_equal(
            np.asarray(Image.open(drawn).convert("RGB")),
            np.asarray(Image.open(image).convert("RGB")),
        )
    assert changed > 0  # boxes were drawn


def test_grid_two_by_two_by_two_with_heatmaps_and_resume(shapes_yaml, tmp_path):
    from scratchlab.detect import GridConfig, run_grid

    small = write_shapes_dataset(tmp_path / "small", num_train=16, num_val=8, imgsz=IMGSZ, seed=1)
    grid = GridConfig(
        optimizers=["SGD", "AdamW"],
        lrs=[0.02, 0.002],
        momentums=[0.5, 0.9],
        epochs=1,
        final_epochs=1,
        metric="map50",
        out=str(tmp_path / "grid"),
    )
    base = base_config(small, tmp_path, plots=False)
    logged: list[str] = []
    result = run_grid(grid, base, log=logged.append)
    assert [e.status for e in result.entries] == ["done"] * 8, [e.error for e in result.entries]
    assert len(result.heatmaps) == 4 and all(
        p.is_file() and p.stat().st_size > 0 for p in result.heatmaps
    )
    assert result.best.value("map50") == max(e.value("map50") for e in result.entries)
    assert result.final.status == "done" and result.final.name == f"final_{result.best.name}"
    again = run_grid(grid, base, log=logged.append)
    assert [e.status for e in again.entries] == ["skipped"] * 8 and again.final.status == "skipped"
    assert [e.metrics for e in again.entries] == [e.metrics for e in result.entries]


def test_process_settings_are_left_alone(process_state):
    import torch

    assert (
        np.get_printoptions(),
        torch.are_deterministic_algorithms_enabled(),
        os.environ.get("OMP_NUM_THREADS"),
    ) == process_state


def test_offline_setup_and_no_network_attempts(no_network, ultralytics, ultralytics_home):
    from ultralytics.utils import SETTINGS, USER_CONFIG_DIR

    font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    # placed, not downloaded
    assert (Path(USER_CONFIG_DIR) / "Arial.ttf").read_bytes() == font.read_bytes()
    if ultralytics_home is not None:
        assert Path(USER_CONFIG_DIR).parent == ultralytics_home
    assert SETTINGS["sync"] is False
    assert no_network.attempts == []
