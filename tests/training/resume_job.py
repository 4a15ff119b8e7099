"""A small training run used by test_checkpoints.py as a subprocess (so it can be SIGKILLed).

usage: resume_job.py PREFIX EPOCHS [--hang-after N] [--loader tensor|dataloader]
Writes PREFIX.fit.json and PREFIX.weights.pt when it finishes.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from scratchlab.training import Callback, ClassifierTrainer, TensorLoader
from scratchlab.util import seed_everything


def build(loader_kind: str):
    seed_everything(0)
    x = torch.randn(96, 1, 8, 8)
    y = (x.mean(dim=(1, 2, 3)) > 0).long() + 2 * (x[:, 0, 0, 0] > 0).long()
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Dropout(0.3), nn.Flatten(), nn.Linear(256, 4)
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    if loader_kind == "tensor":
        train = TensorLoader(x[:64], y[:64], batch_size=16, shuffle=True)
    else:
        train = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=16, shuffle=True)
    test = TensorLoader(x[64:], y[64:], batch_size=32)
    return ClassifierTrainer(model, nn.CrossEntropyLoss(), optimizer, device="cpu"), train, test


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("prefix")
    parser.add_argument("epochs", type=int)
    parser.add_argument("--hang-after", type=int, default=0)
    parser.add_argument("--loader", default="tensor")
    args = parser.parse_args()
    torch.set_num_threads(1)
    trainer, train, test = build(args.loader)

    class Hang(Callback):  # after the epoch's checkpoint is written
        def on_epoch_end(self, trainer, train_result, test_result):
            if trainer.epochs_done == args.hang_after:
                print("READY", flush=True)
                time.sleep(600)

    fit = trainer.fit(
        train,
        test,
        args.epochs,
        checkpoints=args.prefix,
        resume=True,
        callbacks=[Hang()],
        print_every=0,
    )
    with open(args.prefix + ".fit.json", "w") as f:
        f.write(fit.to_json())
    torch.save(trainer.model.state_dict(), args.prefix + ".weights.pt")
    sys.exit(0)


if __name__ == "__main__":
    main()
