"""Cut the images a CIFAR-10 study draws into a smaller file of the same format.

The GPU machine accepts at most 64 MiB of files per call, and `cifar10-jpeg.npz` alone is 56 MB.
A study run draws `train_limit` and `test_limit` class-balanced images with its seed
(`data.balanced_subset`); this writes exactly those images, in that order, to a
new `cifar10-jpeg.npz` (about 33 MB for 30,000 + 5,000), and checks that a run given the new
file loads the same tensors as one given the original.

    python bench/cifar_study_subset.py ../shared/data/cifar10-jpeg.npz
    .devdata/study/cifar10-jpeg.npz
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from scratchlab.data import balanced_subset, get_dataset


def cut(source: Path, target: Path, limits: dict[str, int], seed: int) -> None:
    data = np.load(source)
    out = {"classes": data["classes"]}
    for split, n in limits.items():
        labels = torch.tensor(data[f"{split}_labels"].astype(np.int64))
        keep, _ = balanced_subset(torch.arange(len(labels)), labels, n, seed)
        offsets, jpeg = data[f"{split}_offsets"], data[f"{split}_jpeg"]
        parts = [jpeg[offsets[i] : offsets[i + 1]] for i in keep.tolist()]
        out[f"{split}_jpeg"] = np.concatenate(parts)
        out[f"{split}_offsets"] = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(
            np.int64
        )
        out[f"{split}_labels"] = data[f"{split}_labels"][keep.numpy()]
    target.parent.mkdir(parents=True, exist_ok=True)
    np.savez(target, **out)


def same_tensors(source: Path, target: Path, limits: dict[str, int], seed: int) -> bool:
    for split, n in limits.items():
        a = get_dataset("cifar10", split, root=str(source), dtype="uint8").tensors
        b = get_dataset("cifar10", split, root=str(target), dtype="uint8").tensors
        xa, ya = balanced_subset(a[0], a[1], n, seed)
        xb, yb = balanced_subset(b[0], b[1], n, seed)
        if not (torch.equal(xa, xb) and torch.equal(ya, yb)):
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="cifar10-jpeg.npz")
    parser.add_argument(
        "target", type=Path, help="the smaller file to write (name it cifar10-jpeg.npz)"
    )
    parser.add_argument("--train-limit", type=int, default=30000)
    parser.add_argument("--test-limit", type=int, default=5000)
    parser.add_argument(
        "--seed", type=int, default=0, help="the runs' seed (the study's first seed is 0)"
    )
    args = parser.parse_args()
    limits = {"train": args.train_limit, "test": args.test_limit}
    cut(args.source, args.target, limits, args.seed)
    ok = same_tensors(args.source, args.target, limits, args.seed)
    for cache in args.target.parent.glob(f"{args.target.stem}.*.npy"):  # decode caches of the check
        cache.unlink()
    size = args.target.stat().st_size / 1e6
    print(f"{args.target}: {size:.1f} MB; same tensors as the original: {'yes' if ok else 'NO'}")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
