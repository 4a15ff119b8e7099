"""Replace the paths of the machine that made a results file with portable ones (idempotent).

    python bench/scrub_paths.py FILE_OR_FOLDER... [--base DIR] [--check]

- `"data_root": "/abs/.../NAME"` -> `"$SCRATCHLAB_DATA/NAME"`;
- `"out_dir": "/abs/..."` -> the folder of the file, relative to `--base` (default: the current
  folder, the repository root when run as shown);
- other absolute paths: a data file (`.npz`, `cifar-10-batches-py`) -> `$SCRATCHLAB_DATA/NAME`;
  a path after a `...-file` flag -> `FILE`; a path whose last part has a suffix -> `DIR/NAME`;
  any other -> `DIR`.

Folders are searched for `.json`, `.jsonl`, `.md`, `.csv` and `.html` files. JSON files stay valid
(checked before writing). `--check` changes nothing and exits 1 when a file would change.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

ROOTS = "work|root|home|tmp|Users|mnt|scratch"
PATH = rf"(?<![\w.~$/-])/(?:{ROOTS})(?:/[\w.+=,@-]+)*"
ABSOLUTE = re.compile(rf"(?P<flag>--[\w-]+-file\s+)?(?P<path>{PATH})")
KEY = re.compile(rf'"(?P<key>data_root|out_dir)": "(?P<path>{PATH})"')
DATA_NAMES = re.compile(r"(\.npz|^cifar-10-batches-py)$")
SUFFIXES = (".json", ".jsonl", ".md", ".csv", ".html")


def portable(match: re.Match) -> str:
    """The stand-in for one absolute path in text."""
    name = Path(match["path"]).name
    if DATA_NAMES.search(name):
        return f"{match['flag'] or ''}$SCRATCHLAB_DATA/{name}"
    if match["flag"]:
        return f"{match['flag']}FILE"
    return f"DIR/{name}" if Path(name).suffix else "DIR"


def scrub_text(text: str, folder: str) -> str:
    """`text` (of a file in `folder`, written relative to the base) without absolute paths."""
    def key(match: re.Match) -> str:
        if match["key"] == "data_root":
            return f'"data_root": "$SCRATCHLAB_DATA/{Path(match["path"]).name}"'
        return f'"out_dir": "{folder}"'

    return ABSOLUTE.sub(portable, KEY.sub(key, text))


def check_json(path: Path, text: str) -> None:
    """Raise ValueError when a JSON (or JSON lines) file's new text does not parse."""
    if path.suffix == ".json":
        json.loads(text)
    elif path.suffix == ".jsonl":
        for line in text.splitlines():
            if line.strip():
                json.loads(line)


def files(paths: list[Path]) -> list[Path]:
    out = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
        else:
            out.append(path)
    return out


def folder_of(path: Path, base: Path) -> str:
    """The file's folder relative to `base` (its own name when it lies outside `base`)."""
    parent = path.resolve().parent
    rel = os.path.relpath(parent, base.resolve())
    return parent.name if rel.startswith("..") else Path(rel).as_posix()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, help="files or folders to scrub")
    parser.add_argument("--base", type=Path, default=Path("."),
                        help="out_dir values are written relative to this folder")
    parser.add_argument("--check", action="store_true", help="only report files that would change")
    args = parser.parse_args(argv)
    changed = []
    for path in files(args.paths):
        text = path.read_text(encoding="utf-8")
        new = scrub_text(text, folder_of(path, args.base))
        if new == text:
            continue
        check_json(path, new)
        changed.append(path)
        if not args.check:
            path.write_text(new, encoding="utf-8")
    verb = "would change" if args.check else "scrubbed"
    print(f"{verb} {len(changed)} files" + "".join(f"\n  {p}" for p in changed))
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
