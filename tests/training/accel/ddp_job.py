"""Small training runs for test_distributed.py, as separate processes (so they can be killed).

usage: [torchrun --standalone --nproc-per-node 2] ddp_job.py OUT EPOCHS [--resumable] [--compare]
       [--hang-after K] [--audit LOG] [--device cpu|cuda]
Alone it trains with ClassifierTrainer; with torchrun's environment with
DistributedClassifierTrainer (gloo on CPU, nccl with --device cuda). Rank 0 writes PREFIX.fit.json
and PREFIX.weights.pt of each run:
- `--resumable`: PREFIX=OUT, a model with dropout, checkpoints at OUT, resumed when they exist;
  with --hang-after K every rank prints `READY <rank> <pid>` after epoch K and sleeps.
- `--compare`: PREFIX=OUT.tl, a shuffled TensorLoader whose last batch splits unevenly, and
  PREFIX=OUT.dl, an unshuffled DataLoader; both with models without dropout or BatchNorm.
With --audit, every rank lists each file it opens for writing, renames or removes under OUT's
folder in LOG.<rank>.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from scratchlab.training import Callback, ClassifierTrainer, TensorLoader
from scratchlab.training.accel import DistributedClassifierTrainer
from scratchlab.util import atomic_write_text, resolve_device, seed_everything, torch_save_atomic
from scratchlab.util import distributed as dd

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def data():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(100, 1, 8, 8, generator=generator)
    y = (x.mean(dim=(1, 2, 3)) > 0).long() + 2 * (x[:, 0, 0, 0] > 0).long()
    return x, y


def build(seed: int, device: str, dropout: float = 0.0):
    """Trainer, model, optimizer and scheduler from `seed`."""
    seed_everything(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(256, 4),
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    if dd.launched_by_torchrun():
        trainer = DistributedClassifierTrainer(
            model, nn.CrossEntropyLoss(), optimizer, scheduler=scheduler
        )
    else:
        trainer = ClassifierTrainer(
            model,
            nn.CrossEntropyLoss(),
            optimizer,
            device=resolve_device(device),
            scheduler=scheduler,
        )
    return trainer


def write_outputs(prefix: str, trainer, fit) -> None:
    if dd.is_main_process():
        atomic_write_text(prefix + ".fit.json", fit.to_json())
        torch_save_atomic(trainer.model.state_dict(), prefix + ".weights.pt")


def audit(folder: Path, log: list[str]):
    """An audit hook recording writes, renames and removals under `folder`."""
    root = str(folder.resolve())

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            writes = (
                any(c in mode for c in "wax+")
                if isinstance(mode, str)
                else bool(flags & WRITE_FLAGS)
            )
        elif event in ("os.rename", "os.remove"):
            path, writes = args[0], True
        else:
            return
        if (
            writes
            and isinstance(path, (str, os.PathLike))
            and os.path.abspath(path).startswith(root)
        ):
            log.append(os.fspath(path))

    sys.addaudithook(hook)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("epochs", type=int)
    parser.add_argument("--hang-after", type=int, default=0)
    parser.add_argument("--audit", default=None)
    parser.add_argument("--resumable", action="store_true")
    parser.add_argument("--compare", action="store_true")
    parser.add_argument(
        "--device", default="cpu", help="cpu (gloo) or cuda (nccl, one GPU per rank)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    writes: list[str] = []
    if args.audit:
        audit(Path(args.out).parent, writes)
    if dd.launched_by_torchrun():
        dd.setup(args.device)

    class Hang(Callback):  # after the epoch's checkpoint is written
        def on_epoch_end(self, trainer, train_result, test_result):
            if trainer.epochs_done == args.hang_after:
                print(f"READY {dd.rank()} {os.getpid()}", flush=True)
                time.sleep(600)

    x, y = data()
    if args.resumable:
        trainer = build(1, args.device, dropout=0.3)
        train = TensorLoader(x[:69], y[:69], batch_size=16, shuffle=True, seed=3)
        test = TensorLoader(x[69:], y[69:], batch_size=16)
        fit = trainer.fit(
            train,
            test,
            args.epochs,
            checkpoints=args.out,
            resume=True,
            callbacks=[Hang()],
            print_every=0,
        )
        write_outputs(args.out, trainer, fit)
    if args.compare:
        trainer = build(2, args.device)
        train = TensorLoader(x[:69], y[:69], batch_size=16, shuffle=True, seed=4)
        fit = trainer.fit(
            train, TensorLoader(x[69:], y[69:], batch_size=16), args.epochs, print_every=0
        )
        write_outputs(args.out + ".tl", trainer, fit)
        trainer = build(3, args.device)
        train_dl = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=16)
        test_dl = DataLoader(TensorDataset(x[64:96], y[64:96]), batch_size=8)
        fit = trainer.fit(train_dl, test_dl, 2, print_every=0)
        write_outputs(args.out + ".dl", trainer, fit)
    if args.audit:
        Path(f"{args.audit}.{dd.rank()}").write_text("".join(f"{w}\n" for w in writes))
    dd.barrier()  # every rank done with its collectives before the group is destroyed
    dd.teardown()


if __name__ == "__main__":
    main()
