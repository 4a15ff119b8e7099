"""bench/detect_speed.py runs offline on CPU (tiny sizes) and appends one JSON line to the results
log."""

from __future__ import annotations

import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_detect_speed_cpu_smoke(tmp_path, monkeypatch, no_network, ultralytics):
    monkeypatch.syspath_prepend(str(BENCH))
    import common
    import detect_speed

    monkeypatch.setattr(common, "RESULTS", tmp_path / "results.jsonl")
    monkeypatch.setattr(common, "SUMMARY", tmp_path / "RESULTS.md")
    monkeypatch.setattr(sys, "argv", ["bench/detect_speed.py", "--device", "cpu"])
    metrics = detect_speed.main(
        [
            "--device",
            "cpu",
            "--num-train",
            "8",
            "--num-val",
            "4",
            "--data-dir",
            str(tmp_path / "shapes"),
            "--out",
            str(tmp_path / "runs"),
        ]
    )
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["bench"] == "detect_speed" and line["device"] == "cpu"
    assert {"date", "command", "map50_95", "images_per_second"} <= set(line)
    assert line["images_per_second"] == metrics["images_per_second"] > 0
    assert line["train_images"] == 8 and line["epochs"] == 1
    assert no_network.attempts == []
