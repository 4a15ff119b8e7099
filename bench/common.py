"""Shared by the benchmarks: timing, the device name, and the results log.

Every benchmark run appends one JSON line to bench/results.jsonl (`bench`, `device`, `date`,
`command`, its metrics and ratios) and rewrites bench/RESULTS.md, the latest line of each
(bench, device) pair as a table.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results.jsonl"
SUMMARY = BENCH_DIR / "RESULTS.md"
VARIANT_KEYS = ("recipe", "run", "part", "study", "mode", "triton_cache", "switches")


def device_name(device: torch.device | str) -> str:
    """The device as torch names it (`NVIDIA H100 80GB HBM3`), or `cpu`."""
    device = torch.device(device)
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def synchronize(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device | str) -> float:
    """Wall seconds of `fn()`, with the device synchronised before and after."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def interleaved(
    fns: dict[str, Callable[[], Any]], repeats: int, device: torch.device | str
) -> dict[str, list[float]]:
    """Time each function `repeats` times, alternating between them so drift hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(timed(fn, device))
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def run_cli(main: Callable[[], int], name: str) -> None:
    """`sys.exit(main())`; a user error (`ScratchlabError`) is one line on stderr and exit 2."""
    from scratchlab.errors import ScratchlabError

    try:
        sys.exit(main())
    except ScratchlabError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        sys.exit(2)


def study_in_process(study: str, flags: list[str]) -> tuple[float, int]:
    """Run `scratchlab -q study STUDY FLAGS` in this process into a fresh temporary folder:
    its wall seconds and exit code (a failure has said why)."""
    import tempfile

    from scratchlab.cli import main as scratchlab_main

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        try:
            scratchlab_main(["-q", "study", study, "--out", out, *flags])
        except SystemExit as exc:  # the command line always exits
            if exc.code:
                return time.perf_counter() - start, int(exc.code)
        return time.perf_counter() - start, 0


def record(bench: str, device: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """Append one result line to results.jsonl, rewrite RESULTS.md and print the line."""
    line = {
        "bench": bench,
        "device": device,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(shlex.quote(a) for a in ["python", *sys.argv]),
        "torch": torch.__version__,
        "commit": _commit(),
        **metrics,
    }
    line = portable_line(line)
    with RESULTS.open("a") as f:
        f.write(json.dumps(line) + "\n")
    write_summary()
    print(json.dumps(line, indent=2))
    return line


def _commit() -> str | None:
    """The commit that ran (`$SCRATCHLAB_GIT_COMMIT` for a copy of the tree without git)."""
    from scratchlab.util.environment import git_commit

    return git_commit()


def portable_line(line: dict[str, Any]) -> dict[str, Any]:
    """`line` without this machine's paths: inside the repository relative to its root, others
    as `scrub_paths.py` writes them (`$SCRATCHLAB_DATA/NAME`, `DIR/NAME`, `DIR`)."""
    from scrub_paths import ABSOLUTE, portable

    text = json.dumps(line).replace(f"{BENCH_DIR.parent}/", "")
    return json.loads(ABSOLUTE.sub(portable, text))


def _variant_text(value: Any) -> str:
    """A variant's value as text (`NAME=VALUE ...` for a dict of settings)."""
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in sorted(value.items()))
    return str(value)


def write_summary() -> None:
    """RESULTS.md: the latest result of each (bench, device, variant), one section per bench.

    A variant tells apart what one benchmark measures separately (its `recipe`, `run` or `part`).
    """
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    if RESULTS.exists():
        for text in RESULTS.read_text().splitlines():
            if text.strip():
                entry = json.loads(text)
                variant = " ".join(_variant_text(entry[k]) for k in VARIANT_KEYS if entry.get(k))
                if isinstance(entry.get("metrics"), dict):  # one metrics block per method, as rl's
                    variant = " ".join(entry["metrics"])
                latest[(entry["bench"], f"{entry['device']} {variant}".strip())] = entry
    lines = [
        "# Benchmark results",
        "",
        "Latest run of each benchmark on each device, from `bench/results.jsonl`",
        "(every run appends a line there; this page is rewritten by `bench/common.py`).",
        "",
    ]
    for bench in sorted({b for b, _ in latest}):
        lines += [f"## {bench}", ""]
        for (b, device), entry in sorted(latest.items()):
            if b != bench:
                continue
            lines += [
                f"**{device}** — {entry['date']}, torch {entry.get('torch', '?')}: "
                f"`{entry['command']}`",
                "",
            ]
            lines += ["| metric | value |", "| --- | --- |"]
            for key, value in entry.items():
                if key not in {"bench", "device", "date", "command", "torch"}:
                    lines.append(f"| {key} | {_fmt(value)} |")
            lines.append("")
    SUMMARY.write_text("\n".join(lines))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        text = json.dumps(value)
        return text if len(text) < 200 else text[:197] + "..."
    return str(value)
