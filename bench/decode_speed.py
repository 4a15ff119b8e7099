"""CIFAR-10 JPEG decoding: scratchlab's CPU threads against torchvision's batched GPU decoder.

    python bench/decode_speed.py --reps 2          # on a machine with a GPU
    python bench/decode_speed.py --cpu-only --no-record
    python bench/decode_speed.py --cpu-only --threads 1 2 4 8 16   # how the threads scale

Decodes both splits of the archive ($SCRATCHLAB_DATA) once per decoder and repetition: with
`data.cifar_npz.decode_jpeg_bytes` (libjpeg-turbo, batches on parallel CPU threads) and, on a
GPU, with torchvision's `decode_jpeg(..., device="cuda")` in batches of 2,048 (how scratchlab
decoded before), and compares the pixels. Appends one line to bench/results.jsonl (bench
`decode_speed`) with the seconds of each repetition, their ratio and the largest pixel
difference; with `--threads`, also the seconds of one CPU decode of both splits at each thread
count.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from common import device_name, record, run_cli
from scratchlab.data import cifar_npz
from scratchlab.data.cifar_npz import decode_jpeg_bytes
from scratchlab.errors import DatasetNotFoundError
from scratchlab.util import usable_cores


def gpu_decode(jpeg: torch.Tensor, offsets: np.ndarray, batch: int = 2048) -> np.ndarray:
    """Every image of a split through torchvision's GPU decoder, `batch` images per call."""
    from torchvision.io import ImageReadMode, decode_jpeg

    out, n = [], len(offsets) - 1
    for lo in range(0, n, batch):
        data = [jpeg[offsets[i] : offsets[i + 1]] for i in range(lo, min(lo + batch, n))]
        out.append(torch.stack(decode_jpeg(data, mode=ImageReadMode.RGB, device="cuda")).cpu())
    return torch.cat(out).numpy()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=2, help="repetitions (default 2)")
    p.add_argument("--cpu-only", action="store_true", help="time the CPU threads alone")
    p.add_argument("--threads", type=int, nargs="+", default=[], help="thread counts to time")
    p.add_argument("--no-record", action="store_true", help="do not append to bench/results.jsonl")
    args = p.parse_args(argv)
    path = os.environ.get("SCRATCHLAB_DATA")
    if not path or not os.path.isfile(path):
        raise DatasetNotFoundError("set SCRATCHLAB_DATA to the cifar10-jpeg.npz archive")
    archive = np.load(path)
    splits = [(torch.from_numpy(archive[f"{s}_jpeg"]), archive[f"{s}_offsets"].astype(np.int64))
              for s in ("train", "test")]
    gpu = torch.cuda.is_available() and not args.cpu_only
    if gpu:
        torch.zeros(1, device="cuda")  # CUDA initialised before any timing
    cpu_seconds, gpu_seconds, max_diff = [], [], 0
    default_threads = min(usable_cores(), cifar_npz.DECODE_THREADS)
    for rep in range(args.reps):
        start = time.perf_counter()
        ours = [decode_jpeg_bytes(j, o, np.arange(len(o) - 1)) for j, o in splits]
        cpu_seconds.append(time.perf_counter() - start)
        line = f"rep {rep}: CPU threads ({default_threads}) {cpu_seconds[-1]:.2f} s"
        if gpu:
            start = time.perf_counter()
            theirs = [gpu_decode(j, o) for j, o in splits]
            gpu_seconds.append(time.perf_counter() - start)
            max_diff = max(max_diff, *(int(np.abs(a.astype(int) - b.astype(int)).max())
                                      for a, b in zip(ours, theirs, strict=True)))
            line += f", GPU batched {gpu_seconds[-1]:.2f} s; largest pixel difference {max_diff}"
        print(line, flush=True)
    by_threads = {}
    for threads in args.threads:
        cifar_npz.usable_cores = lambda n=threads: n  # how many threads decode_in_chunks starts
        cifar_npz.DECODE_THREADS = threads
        start = time.perf_counter()
        for j, o in splits:
            decode_jpeg_bytes(j, o, np.arange(len(o) - 1))
        by_threads[threads] = time.perf_counter() - start
        print(f"{threads} threads: {by_threads[threads]:.2f} s", flush=True)
    metrics = {"images": sum(len(o) - 1 for _, o in splits), "threads": default_threads,
               "cpu_seconds": cpu_seconds, "gpu_seconds": gpu_seconds or None,
               "ratio_gpu_over_cpu": (sum(gpu_seconds) / sum(cpu_seconds)) if gpu else None,
               "max_pixel_difference": max_diff if gpu else None,
               **({"seconds_by_threads": by_threads} if by_threads else {})}
    if not args.no_record:
        record("decode_speed", device_name("cuda" if gpu else "cpu"), metrics)
    return 0


if __name__ == "__main__":
    run_cli(main, "decode_speed")
