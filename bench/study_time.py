"""The time of one packaged study, as `scratchlab study` prints it, kept as a results line.

    python bench/study_time.py inductive-bias --device cuda --out /tmp/ib
    python bench/study_time.py cnn-architecture --device cuda --seeds 5 --out /tmp/cnn

Runs `python -m scratchlab -q study NAME ...` (any further flags are passed on), shows its output,
and appends one line to bench/results.jsonl (bench `study_time`): the study seconds it prints,
the wall seconds of the process (imports and start-up included), the seconds of each phase
(plan, train or read back, analyse, report, save) as the command prints them, its conclusions
line, its mode (`quick`, `report-only`; none for full mode) and the environment switches set
(`SCRATCHLAB_TINY_CONV=0`: cuDNN instead of `models.tiny_conv`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from common import device_name, record
from scratchlab.models import stacked_loss, tiny_conv, tiny_head
from scratchlab.training.accel import batched_optim
from scratchlab.util import resolve_device

# environment settings that change how a study computes: the Triton kernels' switches
SWITCHES = (tiny_conv.ENV_OFF, tiny_conv.ENV_PROGRAMS, tiny_head.ENV_OFF, stacked_loss.ENV_OFF,
            batched_optim.ENV_OFF)


def main(argv: list[str]) -> None:
    if not argv or argv[0].startswith("-"):
        sys.exit(__doc__)
    device = argv[argv.index("--device") + 1] if "--device" in argv else "auto"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "scratchlab", "-q", "study", *argv],
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    print(done.stdout, end="")
    print(done.stderr, end="", file=sys.stderr)
    finished = re.search(r"finished in (\d+) s", done.stdout)
    if done.returncode != 0 or finished is None:
        sys.exit(f"study {argv[0]} failed (exit {done.returncode}); nothing recorded")
    conclusions = re.search(r"conclusions: (.*)", done.stdout)
    phases = re.search(r"finished in \d+ s \(([^)]*)\)", done.stdout)
    modes = [flag[2:] for flag in ("--quick", "--report-only") if flag in argv]
    record("study_time", device_name(resolve_device(device)), {
        "study": argv[0], **({"mode": " ".join(modes)} if modes else {}), "args": argv[1:],
        "study_seconds": int(finished[1]),
        "wall_seconds": round(wall, 1),
        "phase_seconds": {name: float(sec) for name, sec in (
            part.rsplit(" ", 2)[:2] for part in phases[1].split(", "))} if phases else None,
        "conclusions": conclusions[1].rstrip(".") if conclusions else None,
        "switches": {k: v for k, v in os.environ.items() if k in SWITCHES},
        "tiny_conv_programs": tiny_conv.MIN_PROGRAMS})  # in effect (an invalid setting: ignored)


if __name__ == "__main__":
    main(sys.argv[1:])
