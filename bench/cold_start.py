"""A recipe from a cold process: from launch to results file, as a user runs it once.

    python bench/cold_start.py --recipe cifar10-fast --device cuda --runs 3
    python bench/cold_start.py --recipe cifar10-fast --device cuda -- --cuda-graph   # run-exp flags
    python bench/cold_start.py --recipe cifar10-fast --quick --device cpu --runs 1 --no-record

Each run is a fresh `python -m scratchlab -q run-exp --recipe NAME` in its own output folder:
imports, CIFAR-10 decoded (or read from its decode cache), the model built, cuDNN autotuned,
trained, evaluated and its results file written. The wall time goes from the launch to the
process's exit; the results file gives the test accuracy and the training seconds. The first run
may fill the decode cache that later runs read (`--fresh-cache`: each run its own empty one, and
its own empty Triton kernel cache). Python byte code is written and read, as for an installed
torch: one quick run of the recipe first writes it (`prime`).
A run's results file says when its run began and how long it spent on data, on building the
model and trainer, and in fit (of which the epochs are its training seconds): with the launch time
they split a cold run's wall time into `PHASES`. One more process only imports and initialises
CUDA (`startup_seconds`). Appends one line to bench/results.jsonl
(bench `cold_start`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from common import device_name, record
from scratchlab.experiments import load_record
from scratchlab.experiments.recipes import recipe_names
from scratchlab.util import resolve_device

# a cold run's wall time, in order: launch to the run's start (Python, imports, CUDA), data (read
# or decoded, to the device), model and trainer built, fit's own set-up (whitening, warm-up, graph
# capture, cuDNN autotuning, evaluations), its epochs, and the results file and exit
PHASES = ("before_run", "data", "build", "fit_setup", "epochs", "after_fit")


def byte_code_env(tmp: str) -> dict[str, str]:
    """The processes' environment: Python byte code written and read (an installed torch comes
    with it; a `PYTHONDONTWRITEBYTECODE` image would compile every module in every process), in
    `$PYTHONPYCACHEPREFIX` (default: a folder in `tmp`)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.setdefault("PYTHONPYCACHEPREFIX", str(Path(tmp, "pycache")))
    return env


def run_exp(recipe: str, device: str, out: Path, quick: bool, flags: Sequence[str] = ()
            ) -> list[str]:
    """The `scratchlab run-exp --recipe` command line of a cold process."""
    return [sys.executable, "-m", "scratchlab", "-q", "run-exp", "--recipe", recipe, "--device",
            device, "-o", str(out), *(["--quick"] if quick else []), *flags]


def prime(recipe: str, device: str, env: dict[str, str], out: Path) -> None:
    """The recipe's quick form once: every module it imports gets its byte code written."""
    subprocess.run(run_exp(recipe, device, out, quick=True), capture_output=True, env=env,
                   check=True)


def cold_run(recipe: str, device: str, quick: bool, flags: list[str], out: Path,
             env: dict[str, str], cache: Path | None = None) -> dict:
    """One cold process: its wall seconds, test accuracy, training seconds and `PHASES` seconds
    (`cache`: its own empty `$SCRATCHLAB_CACHE` and Triton kernel cache)."""
    command = run_exp(recipe, device, out, quick, flags)
    launched, start = time.time(), time.perf_counter()
    fresh = {"SCRATCHLAB_CACHE": str(cache), "TRITON_CACHE_DIR": str(cache / "triton")} \
        if cache else {}
    done = subprocess.run(command, capture_output=True, text=True, env={**env, **fresh})
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"run-exp failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    rec = load_record(next(out.glob("*.json")))
    t = rec.timings.model_dump()
    phases = {"before_run": t["started_at"] - launched, "data": t["data_seconds"],
              "build": t["build_seconds"], "fit_setup": t["fit_seconds"] - t["train_seconds"],
              "epochs": t["train_seconds"]}
    phases["after_fit"] = wall - sum(phases.values())
    return {"wall_seconds": wall, "test_acc": rec.fit.test_acc[-1],
            "train_seconds": rec.timings.train_seconds, "phases": phases}


def startup_seconds(device: str, env: dict[str, str]) -> float:
    """Wall seconds of a process that only imports scratchlab's run path and torch and, on a
    GPU, initialises CUDA: the part of a cold run that precedes any work."""
    code = ("import torch, scratchlab.experiments.run\n"
            f"torch.cuda.init() if torch.device({device!r}).type == 'cuda' else None")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", choices=recipe_names(), default="cifar10-fast")
    p.add_argument("--device", default="cuda", help="auto, cpu, cuda (default cuda)")
    p.add_argument("--runs", type=int, default=2, help="cold processes, one after another")
    p.add_argument("--quick", action="store_true", help="the recipe's tiny CPU smoke form")
    p.add_argument("--fresh-cache", action="store_true",
                   help="each run its own empty $SCRATCHLAB_CACHE and Triton kernel cache "
                        "(decodes anew where the data's folder is read-only)")
    p.add_argument("--no-record", action="store_true", help="do not append to bench/results.jsonl")
    p.add_argument("flags", nargs="*", help="run-exp flags after --, e.g. -- --cuda-graph")
    args = p.parse_args(argv)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        env = byte_code_env(tmp)
        prime(args.recipe, args.device, env, Path(tmp, "prime"))
        for i in range(args.runs):
            cache = Path(tmp, f"cache{i}") if args.fresh_cache else None
            runs.append(cold_run(args.recipe, args.device, args.quick, args.flags,
                                 Path(tmp, f"run{i}"), env, cache))
            r = runs[-1]
            print(f"cold run {i + 1}/{args.runs}: {r['wall_seconds']:.1f} s from launch to "
                  f"results, test acc {r['test_acc']:.2f}%, training {r['train_seconds']:.2f} s; "
                  + ", ".join(f"{k} {v:.2f} s" for k, v in r["phases"].items()), flush=True)
        startup = startup_seconds(str(resolve_device(args.device)), env)
    walls = [r["wall_seconds"] for r in runs]
    phases = {k: statistics.fmean(r["phases"][k] for r in runs) for k in PHASES}
    print(f"of a cold run (mean): {', '.join(f'{k} {v:.2f} s' for k, v in phases.items())}; "
          f"a process that only imports and starts CUDA: {startup:.2f} s")
    metrics = {"recipe": args.recipe, "quick": args.quick, "flags": args.flags,
               "fresh_cache": args.fresh_cache, "byte_code": "written and read",
               "runs": len(runs), "mean_wall_seconds": statistics.fmean(walls),
               "startup_seconds": startup, "phase_seconds": phases,
               "wall_seconds": walls, "test_accs": [r["test_acc"] for r in runs],
               "train_seconds": [r["train_seconds"] for r in runs]}
    print(f"cold start of {args.recipe}: {statistics.fmean(walls):.1f} s mean over {len(runs)} "
          f"(first {walls[0]:.1f} s)")
    if not args.no_record:
        record("cold_start", device_name(resolve_device(args.device)), metrics)


if __name__ == "__main__":
    main()
