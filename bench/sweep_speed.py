"""Wall time of the inductive-bias study's runs: one model at a time (notebook way) vs scratchlab's
batched path.

(a) notebook: for each run, its data in a `DataLoader(TensorDataset)`, the model, `.to(device)` per
    batch, a plain loop (loss.item() per batch, a validation pass per epoch, the study's early
    stopping where the run has it).
(b) scratchlab: `run_configs(configs, batched=B, jobs=J)`, everything included (data, models,
    training, results JSON and checkpoints). `--batched` (default auto: batched on a GPU, where the
    groups train at once in this process, and on a CPU with one job; with CPU worker processes auto
    trains the runs alone in them, which measured as fast or faster) and `--jobs` (default: every
    core on a CPU, 1 on a GPU; `--batched on --jobs J` cuts the batched groups into parts over J
    worker processes).
Both train the same configs (`scratchlab.studies.inductive_bias.experiment_configs`) with the same
epochs. `--notebook-seeds K` times the notebook way on the first K seeds only and scales its time
by the ratio of training steps (reported as estimated). `--check` first compares a few runs trained
alone and batched (3 epochs, float32 convolutions) and reports the largest relative difference of
their losses. Besides wall times it records CPU times (worker processes included), which a busy
shared machine disturbs less; on a CPU it also gives the CPU-time ratio per model type.

    python bench/sweep_speed.py --device cpu --epochs-scale 0.02 --seeds 5
    python bench/sweep_speed.py --device cuda --seeds 5 --notebook-seeds 1 --notebook-epochs 20
    --check
"""

from __future__ import annotations

import os

os.environ.setdefault("CUDA_DEVICE_MAX_CONNECTIONS", "32")  # let the groups' CUDA streams overlap

import argparse
import resource
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from common import device_name, record, synchronize
from scratchlab.experiments import ExperimentConfig, load_run_data, model_spec, run_configs
from scratchlab.models import build_model
from scratchlab.util import resolve_device


def study_configs(seeds: int, scale: float, out_dir: Path, device: str) -> list[ExperimentConfig]:
    """Every run of the full inductive-bias study, epochs scaled by `scale`."""
    from scratchlab.studies.inductive_bias import experiment_configs

    configs = experiment_configs(False, list(range(seeds)), out_dir, device=device, scale=scale)
    return [c.replace(out_dir=out_dir) for c in configs]


def notebook_run(config: ExperimentConfig, device: torch.device) -> None:
    """One run the way a notebook trains it."""
    torch.manual_seed(config.seed)
    data = load_run_data(config.replace(device="cpu"), torch.device("cpu"))  # the run's subsets
    (x_train, y_train), (x_valid, y_valid) = data.train.tensors, data.test.tensors
    o, b = config.optim, config.budget
    train_dl = DataLoader(TensorDataset(x_train, y_train), batch_size=b.bs_train, shuffle=True)
    valid_dl = DataLoader(TensorDataset(x_valid, y_valid), batch_size=b.test_batch_size)
    model = build_model(model_spec(config, data.input_shape, data.num_classes)).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.reg)
    criterion = nn.CrossEntropyLoss()
    best, bad = float("inf"), 0
    for _ in range(b.epochs):
        model.train()
        total, correct, seen = 0.0, 0, 0
        for x, y in train_dl:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            out = model(x)
            loss = criterion(out, y)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(y)
            correct += (out.argmax(1) == y).sum().item()
            seen += len(y)
        model.eval()
        valid_correct = 0
        with torch.no_grad():
            for x, y in valid_dl:
                x, y = x.to(device), y.to(device)
                valid_correct += (model(x).argmax(1) == y).sum().item()
        if b.early_stopping is not None:  # the study's rule: train loss, patience, min_delta
            mean = total / seen
            best, bad = (mean, 0) if mean < best - b.early_stopping_min_delta else (best, bad + 1)
            if bad >= b.early_stopping:
                break


def steps(config: ExperimentConfig) -> int:
    """Training steps of a run at its full epoch budget."""
    n = (config.data.train_limit or 0) or 1
    return config.budget.epochs * -(-n // config.budget.bs_train)


def cpu_seconds() -> float:
    """CPU seconds of this process and of its finished worker processes."""
    return sum(
        r.ru_utime + r.ru_stime
        for r in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
    )


class Clock:
    """Wall and CPU seconds of a block, worker processes included (CPU time is steadier on a shared
    machine)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.wall = self.cpu = 0.0

    def __enter__(self) -> Clock:
        synchronize(self.device)
        self._start = (time.perf_counter(), cpu_seconds())
        return self

    def __exit__(self, *exc: object) -> None:
        synchronize(self.device)
        self.wall += time.perf_counter() - self._start[0]
        self.cpu += cpu_seconds() - self._start[1]


def time_notebook(configs: list[ExperimentConfig], device: torch.device, clock: Clock) -> None:
    """Train `configs` the notebook way, timed by `clock`."""
    for config in configs:
        with clock:
            notebook_run(config, device)


def time_batched(configs: list[ExperimentConfig], clock: Clock, batched: str, jobs: int) -> None:
    """`run_configs(configs, batched=batched, jobs=jobs)`, timed by `clock`."""
    with clock:
        records = run_configs(configs, batched=batched, jobs=jobs)
    failed = [r for r in records if not r.ok]
    if failed:
        print(
            f"warning: {len(failed)} runs failed, e.g. {failed[0].config.run_name}: "
            f"{failed[0].error}"
        )


def notebook_sample(
    configs: list[ExperimentConfig], seeds: int, max_epochs: int | None
) -> list[ExperimentConfig]:
    """The runs the notebook way trains: the first `seeds` seeds, each capped at `max_epochs` epochs
    (no early stopping then); its time is scaled up to all runs by their number of training
    steps."""
    timed = [c for c in configs if c.seed < seeds]
    if max_epochs is not None:
        timed = [
            c.replace(epochs=min(c.budget.epochs, max_epochs), early_stopping=None) for c in timed
        ]
    return timed


def time_both(
    configs: list[ExperimentConfig],
    timed: list[ExperimentConfig],
    device: torch.device,
    batched: str,
    jobs: int,
) -> dict[str, dict[str, Clock]]:
    """Clocks of both ways by part. One part where the batched side is one call (on CUDA, where its
    groups overlap, and with worker processes, which start once per call); else one part per model
    type, the two ways back to back so that a change of load on the machine hits both."""
    by_model = device.type == "cpu" and jobs == 1
    parts: dict[str, list[ExperimentConfig]] = {} if by_model else {"all": configs}
    for config in configs if by_model else []:
        parts.setdefault(config.model.model_type, []).append(config)
    clocks: dict[str, dict[str, Clock]] = {"batched": {}, "notebook": {}}
    for name, part in parts.items():
        time_batched(part, clocks["batched"].setdefault(name, Clock(device)), batched, jobs)
        sample = [c for c in timed if name == "all" or c.model.model_type == name]
        time_notebook(sample, device, clocks["notebook"].setdefault(name, Clock(device)))
    return clocks


def check(configs: list[ExperimentConfig], root: Path) -> float:
    """Largest relative difference of losses between runs trained alone and batched (3 epochs)."""
    picked = [
        c
        for c in configs
        if c.model.model_type in ("simplecnn", "three_layer_mlp")
        and c.budget.early_stopping is None
        and c.seed < 2
        and c.data.train_limit == 90
    ]
    worst = 0.0
    tf32, torch.backends.cudnn.allow_tf32 = (
        torch.backends.cudnn.allow_tf32,
        False,
    )  # full float32 convolutions
    records = {
        mode: run_configs([c.replace(epochs=3, out_dir=root / mode) for c in picked], batched=mode)
        for mode in ("off", "on")
    }
    torch.backends.cudnn.allow_tf32 = tf32
    for alone, batched in zip(records["off"], records["on"], strict=True):
        for key in ("train_loss", "test_loss"):
            x, y = torch.tensor(getattr(alone.fit, key)), torch.tensor(getattr(batched.fit, key))
            worst = max(worst, float(((x - y).abs() / x.abs().clamp_min(1e-12)).max()))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--epochs-scale", type=float, default=1.0, help="multiplies every run's epochs (both sides)"
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--notebook-seeds",
        type=int,
        default=None,
        help="time the notebook way on this many seeds only",
    )
    parser.add_argument(
        "--notebook-epochs",
        type=int,
        default=None,
        help="cap the notebook way's epochs per run (time scaled up by steps)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's)"
    )
    parser.add_argument(
        "--batched",
        choices=["auto", "on", "off"],
        default="auto",
        help="scratchlab side's batched mode",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="scratchlab side's worker processes on a CPU (default: every core)",
    )
    parser.add_argument(
        "--check", action="store_true", help="also compare a few runs alone vs batched"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        configs = study_configs(args.seeds, args.epochs_scale, root / "batched", str(device))
        worst = check(configs, root / "check") if args.check else None
        timed = notebook_sample(configs, args.notebook_seeds or args.seeds, args.notebook_epochs)
        jobs = args.jobs or ((os.cpu_count() or 1) if device.type == "cpu" else 1)
        clocks = time_both(configs, timed, device, args.batched, jobs)
    scale = sum(map(steps, configs)) / sum(map(steps, timed))  # timed runs -> all runs
    total = {
        side: {k: sum(getattr(c, k) for c in clocks[side].values()) for k in ("wall", "cpu")}
        for side in ("notebook", "batched")
    }
    metrics = {
        "runs": len(configs),
        "seeds": args.seeds,
        "epochs_scale": args.epochs_scale,
        "notebook_epochs_cap": args.notebook_epochs,
        "threads": torch.get_num_threads(),
        "batched_mode": args.batched,
        "batched_jobs": jobs,
        "notebook_runs_timed": len(timed),
        "notebook_estimated": scale != 1.0,
        "notebook_seconds": total["notebook"]["wall"] * scale,
        "batched_seconds": total["batched"]["wall"],
        "ratio": total["notebook"]["wall"] * scale / total["batched"]["wall"],
        "notebook_cpu_seconds": total["notebook"]["cpu"] * scale,
        "batched_cpu_seconds": total["batched"]["cpu"],
        "cpu_ratio": total["notebook"]["cpu"] * scale / total["batched"]["cpu"],
    }
    if "all" not in clocks["batched"] and not metrics["notebook_estimated"]:
        metrics["cpu_ratio_by_model"] = {
            k: round(clocks["notebook"][k].cpu / c.cpu, 2) for k, c in clocks["batched"].items()
        }
    if worst is not None:
        metrics["check_max_rel_loss_diff"] = worst
    record("sweep_speed", device_name(device), metrics)


if __name__ == "__main__":
    main()
