"""Overhead of scratchlab's ClassifierTrainer.fit over a hand-written loop, and TensorLoader vs
DataLoader.

Both sides train the same model on the same TensorLoader for the same epochs (train + test pass,
tracking loss and accuracy), alternating runs; the ratio is ours / hand-written per training step.

    python bench/trainer_overhead.py [--device auto] [--epochs 3] [--repeats 5]
"""

from __future__ import annotations

import argparse
import copy

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from common import device_name, interleaved, median, record, timed
from scratchlab.training import ClassifierTrainer, TensorLoader
from scratchlab.util import resolve_device


def make_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 8 * 8, 10),
    )


def hand_written(model, train, test, epochs):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for _ in range(epochs):
        losses, correct = [], 0
        model.train()
        for x, y in train:
            opt.zero_grad()
            scores = model(x)
            loss = nn.functional.cross_entropy(scores, y)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
            correct += (scores.argmax(1) == y).sum()
        model.eval()
        test_losses, test_correct = [], 0
        with torch.no_grad():
            for x, y in test:
                scores = model(x)
                test_losses.append(nn.functional.cross_entropy(scores, y))
                test_correct += (scores.argmax(1) == y).sum()
        stats = (
            torch.stack(losses).tolist(),
            int(correct),
            torch.stack(test_losses).tolist(),
            int(test_correct),
        )
    return stats


def ours(model, train, test, epochs):
    trainer = ClassifierTrainer(
        model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    )
    return trainer.fit(train, test, epochs, print_every=0)


def loader_time(loader, device) -> float:
    def consume():
        for x, _y in loader:
            x.to(device, non_blocking=True)

    return timed(consume, device) / len(loader)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    x = torch.randn(args.samples, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (args.samples,), device=device)
    train = TensorLoader(x, y, batch_size=args.batch_size, shuffle=True, seed=0)
    test = TensorLoader(x[:1024], y[:1024], batch_size=512)
    base = make_model().to(device)
    fns = {
        "hand_written": lambda: hand_written(copy.deepcopy(base), train, test, args.epochs),
        "scratchlab": lambda: ours(copy.deepcopy(base), train, test, args.epochs),
    }
    for fn in fns.values():  # warm-up (cuDNN autotune, allocator)
        fn()
    times = interleaved(fns, args.repeats, device)
    steps = args.epochs * len(train)
    hand, mine = median(times["hand_written"]) / steps, median(times["scratchlab"]) / steps
    x_cpu, y_cpu = x.cpu(), y.cpu()
    tensor_loader = TensorLoader(x, y, batch_size=args.batch_size, shuffle=True, seed=0)
    data_loader = DataLoader(TensorDataset(x_cpu, y_cpu), batch_size=args.batch_size, shuffle=True)
    loader_time(tensor_loader, device), loader_time(data_loader, device)  # warm-up
    tl = median([loader_time(tensor_loader, device) for _ in range(args.repeats)])
    dl = median([loader_time(data_loader, device) for _ in range(args.repeats)])
    record(
        "trainer_overhead",
        device_name(device),
        {
            "model": "2-conv CNN, 3x32x32 inputs",
            "batch_size": args.batch_size,
            "steps": steps,
            "hand_written_ms_per_step": hand * 1e3,
            "scratchlab_ms_per_step": mine * 1e3,
            "ratio": mine / hand,
            "tensorloader_ms_per_batch": tl * 1e3,
            "dataloader_ms_per_batch": dl * 1e3,
            "dataloader_over_tensorloader": dl / tl,
        },
    )


if __name__ == "__main__":
    main()
