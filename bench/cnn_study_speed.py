"""Speed of the CNN architecture study: our trainer vs the notebook way, runs at a time, wall time.

Three parts (each optional), every one recorded to bench/results.jsonl (bench "cnn_study_speed"):

- `--speed`: training images per second of one study run (default the exp1_4 L=8 ResNets) the
  notebook way (a ToTensor dataset of PIL images, DataLoader, fp32, `.item()` every batch) and
  scratchlab's way (device-resident tensors, GPU-side crop+flip, bf16 autocast, channels-last, the
  training step replayed as a CUDA graph), plus one ablation per speed setting (fp32, no
  channels-last, no augmentation, no CUDA graph, cudnn.benchmark,
  optionally torch.compile). An epoch is a pass over the training images and one over the
  evaluation images; the first epoch (warm-up) is not counted.
- `--probe-jobs 1 2 4`: wall time of a slice of the study (`--probe-experiments`, default exp1_2;
  2 epochs) with each number of concurrent runs (threads with a CUDA stream each on a GPU, worker
  processes on a CPU); the fastest is written to `--best-jobs-file`.
- `--study`: the full study (31+ runs, 1 seed) with `--jobs` runs at a time; its wall time.

    python bench/cnn_study_speed.py --device cuda --speed --probe-jobs 1 2 4 --study --out OUT
    python bench/cnn_study_speed.py --device cpu --quick --speed --runs exp1_4_L8_K32 \
        --train-limit 512 --test-limit 256 --probe-jobs 1 2   # a smoke test on a CPU
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import ToTensor

from common import device_name, record, synchronize
from scratchlab.data import get_dataset
from scratchlab.experiments import ExperimentConfig, build_run_model, run_experiment
from scratchlab.studies import cnn_architecture as study
from scratchlab.studies import run_study
from scratchlab.studies.cnn_architecture.spec import data_overrides, load_spec, study_configs
from scratchlab.util import resolve_device

BENCH = "cnn_study_speed"
ABLATIONS = {
    "fp32": {"precision": "fp32", "channels_last": False},
    "no_channels_last": {"channels_last": False},
    "no_augment": {"augment": []},
}


class NotebookCIFAR(Dataset):
    """CIFAR-10 as torchvision's dataset serves it: a PIL image per item, then ToTensor."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.images = x.permute(0, 2, 3, 1).contiguous().numpy()
        self.labels = y.tolist()
        self.transform = ToTensor()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.transform(Image.fromarray(self.images[i])), self.labels[i]


def notebook_epoch_seconds(
    config: ExperimentConfig, device: torch.device, epochs: int
) -> list[float]:
    """Seconds per epoch of the classic course loop (fp32, DataLoader, `.item()` per batch)."""
    d, b = config.data, config.budget
    train = get_dataset("cifar10", "train", root=d.data_root, dtype="uint8")
    test = get_dataset("cifar10", "test", root=d.data_root, dtype="uint8")
    n_train, n_test = d.train_limit or len(train), d.test_limit or len(test)
    dl_train = DataLoader(
        NotebookCIFAR(train.x[:n_train], train.y[:n_train]), batch_size=b.bs_train, shuffle=True
    )
    dl_test = DataLoader(
        NotebookCIFAR(test.x[:n_test], test.y[:n_test]), batch_size=b.test_batch_size
    )
    torch.manual_seed(0)
    model = build_run_model(config, (3, 32, 32), 10).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.optim.lr)
    loss_fn = nn.CrossEntropyLoss()
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        for x, y in dl_train:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            scores = model(x)
            loss = loss_fn(scores, y)
            loss.backward()
            optimizer.step()
            _ = loss.item(), (scores.argmax(1) == y).sum().item()
        model.eval()
        with torch.no_grad():
            for x, y in dl_test:
                x, y = x.to(device), y.to(device)
                scores = model(x)
                _ = loss_fn(scores, y).item(), (scores.argmax(1) == y).sum().item()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return seconds


def ours_epoch_seconds(
    config: ExperimentConfig, epochs: int, out: Path, tag: str, **update
) -> list[float]:
    """Seconds per epoch of `run_experiment` (scratchlab's trainer) on `config` with `update`."""
    config = config.replace(
        epochs=epochs,
        early_stopping=None,
        out_dir=out,
        run_name=f"{config.run_name}_{tag}",
        **update,
    )
    return run_experiment(config, verbose=False).timings.seconds_per_epoch


def steady(seconds: list[float]) -> float:
    """Median epoch time after the first (warm-up) epoch."""
    return statistics.median(seconds[1:] if len(seconds) > 1 else seconds)


def study_config(name: str, device: str, args: argparse.Namespace) -> ExperimentConfig:
    spec = load_spec(args.spec)
    overrides = data_overrides(
        spec, args.quick, device, args.data, args.train_limit, args.test_limit
    )
    configs = study_configs(spec, args.out / "unused", device, args.quick, [0], overrides=overrides)
    by_name = {c.run_name: c for c in configs}
    if name not in by_name:
        raise SystemExit(f"unknown run {name!r}; pick one of {', '.join(by_name)}")
    return by_name[name]


def bench_speed(args: argparse.Namespace, device: str) -> None:
    dev = torch.device(device)
    for name in args.runs:
        config = study_config(name, device, args)
        with tempfile.TemporaryDirectory() as tmp:
            notebook = steady(notebook_epoch_seconds(config, dev, args.notebook_epochs))
            ours = steady(ours_epoch_seconds(config, args.epochs, Path(tmp), "ours"))
            ablations = {
                key: steady(ours_epoch_seconds(config, args.epochs, Path(tmp), key, **update))
                for key, update in ABLATIONS.items()
            }
            if dev.type == "cuda":
                ablations["no_cuda_graph"] = steady(
                    ours_epoch_seconds(config, args.epochs, Path(tmp), "nograph", cuda_graph=False)
                )
                torch.backends.cudnn.benchmark = True
                ablations["cudnn_benchmark"] = steady(
                    ours_epoch_seconds(config, args.epochs, Path(tmp), "bench")
                )
                torch.backends.cudnn.benchmark = False
            if args.compile:  # instead of the CUDA graph (a captured step is not compiled)
                ablations["compile"] = steady(
                    ours_epoch_seconds(
                        config,
                        args.epochs + 1,
                        Path(tmp),
                        "compile",
                        compile=True,
                        cuda_graph=False,
                    )
                )
        n = config.data.train_limit or 50000
        record(
            BENCH,
            device_name(dev),
            {
                "part": "speed",
                "run": name,
                "train_images": n,
                "eval_images": config.data.test_limit,
                "batch_size": config.budget.bs_train,
                "epochs_timed": args.epochs - 1,
                "notebook_epochs_timed": args.notebook_epochs - 1,
                "notebook_images_per_s": n / notebook,
                "ours_images_per_s": n / ours,
                "ratio": notebook / ours,
                "goal_ratio": 5.0,
                "notebook_epoch_s": notebook,
                "ours_epoch_s": ours,
                **{f"{key}_epoch_s": value for key, value in ablations.items()},
                **{f"{key}_over_ours": value / ours for key, value in ablations.items()},
            },
        )


def timed_study(args: argparse.Namespace, device: str, jobs: int, out: Path, **kw):
    """Wall seconds of the study (training, table, figures and report; not saving) and its
    result."""
    start = time.perf_counter()
    options = {
        "data_root": args.data,
        "train_limit": args.train_limit,
        "test_limit": args.test_limit,
        "spec": args.spec,
        **kw,
    }
    the_study = study.CnnArchitecture(
        device, out, jobs=jobs, **{k: v for k, v in options.items() if v is not None}
    )
    result = run_study(the_study, args.quick, 1, save=False)
    return time.perf_counter() - start, result


def bench_probe(args: argparse.Namespace, device: str) -> int:
    walls = {}
    for jobs in args.probe_jobs:
        with tempfile.TemporaryDirectory() as tmp:
            walls[jobs], _ = timed_study(
                args, device, jobs, Path(tmp), experiments=args.probe_experiments, epochs=2
            )
        print(
            f"probe: {' '.join(args.probe_experiments)} (2 epochs) with {jobs} run(s) at a time: "
            f"{walls[jobs]:.1f} s",
            flush=True,
        )
        best = min(walls, key=walls.get)
        if args.best_jobs_file:  # the best so far, in case a time limit stops the probe
            args.best_jobs_file.write_text(f"{best}\n")
    record(
        BENCH,
        device_name(device),
        {
            "part": "jobs_probe",
            "slice": f"{' '.join(args.probe_experiments)}, 2 epochs",
            **{f"wall_s_jobs{j}": w for j, w in walls.items()},
            "best_jobs": best,
        },
    )
    return best


def bench_study(args: argparse.Namespace, device: str, jobs: int) -> None:
    out = args.out / "study"
    wall, result = timed_study(args, device, jobs, out)
    result.save()
    table = result.table
    record(
        BENCH,
        device_name(device),
        {
            "part": "study",
            "runs": len(table),
            "jobs": jobs,
            "wall_s": wall,
            "goal_wall_s": 120,
            "sum_train_s": float(table["train_seconds"].sum()),
            "best_acc_by_model": {
                m: float(rows["best_test_acc"].max()) for m, rows in table.groupby("model_type")
            },
            "out": str(out),
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--data", type=Path, default=None, help="CIFAR-10 (folder or cifar10-jpeg.npz)"
    )
    parser.add_argument("--out", type=Path, default=Path("results/bench/cnn_study"))
    parser.add_argument(
        "--quick", action="store_true", help="the study's quick sizes (a CPU smoke test)"
    )
    parser.add_argument(
        "--train-limit", type=int, default=None, help="override the study's training images"
    )
    parser.add_argument(
        "--test-limit", type=int, default=None, help="override the study's evaluation images"
    )
    parser.add_argument(
        "--speed", action="store_true", help="ours vs the notebook way, and ablations"
    )
    parser.add_argument("--runs", nargs="+", default=["exp1_4_L8_K32", "exp1_4_L8_K64-128-256"])
    parser.add_argument(
        "--epochs", type=int, default=3, help="epochs per speed measurement (the first is warm-up)"
    )
    parser.add_argument(
        "--notebook-epochs",
        type=int,
        default=2,
        help="epochs of the notebook way (the first is warm-up)",
    )
    parser.add_argument(
        "--compile", action="store_true", help="also time torch.compile (compile time not counted)"
    )
    parser.add_argument(
        "--probe-jobs", type=int, nargs="*", default=[], help="runs at a time to compare"
    )
    parser.add_argument(
        "--probe-experiments",
        nargs="+",
        default=["exp1_2"],
        help="the study slice --probe-jobs times",
    )
    parser.add_argument("--best-jobs-file", type=Path, default=None)
    parser.add_argument("--study", action="store_true", help="run the full study and time it")
    parser.add_argument(
        "--spec",
        type=Path,
        default=None,
        help="the study's settings as a YAML file (default: its own)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="runs at a time for --study (default: the probe's best)",
    )
    args = parser.parse_args()
    device = str(resolve_device(args.device)) if args.device == "auto" else args.device
    args.out.mkdir(parents=True, exist_ok=True)
    if args.speed:
        bench_speed(args, device)
    best = bench_probe(args, device) if args.probe_jobs else None
    if args.study:
        bench_study(
            args, device, args.jobs or best or (study.CUDA_JOBS if device.startswith("cuda") else 1)
        )


if __name__ == "__main__":
    main()
