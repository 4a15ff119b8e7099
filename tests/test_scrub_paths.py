"""bench/scrub_paths.py makes results files portable, idempotently; committed files hold no
paths of the machine that made them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "scrub_paths.py"
MACHINE_PATH = re.compile(r"/(work|root|home)/")


def scrub(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_scrub_rewrites_data_roots_out_dirs_and_commands_and_is_idempotent(tmp_path):
    runs = tmp_path / "results" / "runs"
    runs.mkdir(parents=True)
    record = {"config": {"run_name": "a", "out_dir": "/tmp/cnn/study/runs",
                         "data_root": "/work/main/.devdata/study/cifar10-jpeg.npz"},
              "summary": {"best_test_acc": 50.0}}
    (runs / "a.json").write_text(json.dumps(record, indent=2))
    (tmp_path / "log.jsonl").write_text(json.dumps(
        {"command": "python b.py --data /home/u/d/cifar10-jpeg.npz --out /root/out/x "
                    "--best-jobs-file /tmp/best --spec /root/p/spec.yaml",
         "out": "/root/out/x/study", "url": "https://example.org/home/a"}) + "\n")
    (tmp_path / "NOTES.md").write_text("ran `--out /tmp/cnnb` at 3/4 speed, docs/work/x\n")

    first = scrub(".", cwd=tmp_path)
    assert first.returncode == 0 and "scrubbed 3 files" in first.stdout, first.stderr
    config = json.loads((runs / "a.json").read_text())["config"]
    assert config == {"run_name": "a", "out_dir": "results/runs",
                      "data_root": "$SCRATCHLAB_DATA/cifar10-jpeg.npz"}
    line = json.loads((tmp_path / "log.jsonl").read_text())
    assert line["command"] == ("python b.py --data $SCRATCHLAB_DATA/cifar10-jpeg.npz --out DIR "
                               "--best-jobs-file FILE --spec DIR/spec.yaml")
    assert line["out"] == "DIR" and line["url"] == "https://example.org/home/a"
    assert (tmp_path / "NOTES.md").read_text() == "ran `--out DIR` at 3/4 speed, docs/work/x\n"

    before = {p: p.read_text() for p in tmp_path.rglob("*") if p.is_file()}
    again = scrub(".", "--check", cwd=tmp_path)
    assert again.returncode == 0 and "would change 0 files" in again.stdout
    assert scrub(".", cwd=tmp_path).returncode == 0
    assert before == {p: p.read_text() for p in tmp_path.rglob("*") if p.is_file()}


def test_check_reports_a_file_that_would_change_and_changes_nothing(tmp_path):
    path = tmp_path / "a.md"
    path.write_text("python x.py --out /root/out\n")
    result = scrub(path, "--check", cwd=tmp_path)
    assert result.returncode == 1 and "a.md" in result.stdout
    assert path.read_text() == "python x.py --out /root/out\n"


def test_committed_docs_and_bench_hold_no_machine_paths():
    files = [REPO / "README.md", *(REPO / "docs").rglob("*"), *(REPO / "bench").rglob("*")]
    found = [str(p.relative_to(REPO)) for p in files
             if p.is_file() and p.suffix not in (".png", ".gif", ".jpg", ".pdf", ".pyc")
             and MACHINE_PATH.search(p.read_text(encoding="utf-8", errors="replace"))]
    assert not found, f"absolute paths of a machine (run bench/scrub_paths.py): {found}"


def test_bench_result_lines_are_written_without_machine_paths(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    import common

    line = common.portable_line({
        "command": f"python bench/x.py --spec {REPO}/configs/a.yaml --out /tmp/run7 "
                   "--data /home/u/cifar10-jpeg.npz", "out": "/root/o/report.html", "acc": 90.5})
    assert line == {"command": "python bench/x.py --spec configs/a.yaml --out DIR "
                               "--data $SCRATCHLAB_DATA/cifar10-jpeg.npz",
                    "out": "DIR/report.html", "acc": 90.5}
