"""Make a study's output folder small enough to commit, and pack it for the trip back.

    python bench/pack_results.py FOLDER [--digits 4] [--tar OUT/name.tar.xz --part-mb 15]

In `FOLDER/runs/*.json` every float is rounded to `--digits` significant digits and the JSON is
written compactly; `FOLDER/runs/checkpoints` is deleted. With `--tar`, the folder is packed
(xz) and split into parts of at most `--part-mb` MB (`name.tar.xz.00`, `.01`, ...); join them
with `cat name.tar.xz.* | tar -xJ`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any


def rounded(value: Any, digits: int) -> Any:
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--digits", type=int, default=4)
    parser.add_argument("--tar", type=Path, default=None)
    parser.add_argument("--part-mb", type=int, default=15)
    args = parser.parse_args()
    runs = args.folder / "runs"
    shutil.rmtree(runs / "checkpoints", ignore_errors=True)
    for path in sorted(runs.glob("*.json")):
        data = json.loads(path.read_text())
        path.write_text(json.dumps(rounded(data, args.digits), separators=(",", ":")) + "\n")
    if args.tar:
        args.tar.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["tar", "-cJf", str(args.tar), "-C", str(args.folder.parent),
                        args.folder.name], check=True)
        subprocess.run(["split", "-d", "-b", f"{args.part_mb}M", str(args.tar),
                        f"{args.tar}."], check=True)
        args.tar.unlink()
    size = sum(p.stat().st_size for p in args.folder.rglob("*") if p.is_file())
    print(f"{args.folder}: {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
