"""Scratch models learn real data (sklearn's 8x8 digits) with no autograd at all."""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_digits

from scratchlab import optim, scratch


@pytest.fixture(scope="module")
def digits():
    images, labels = load_digits(return_X_y=True)
    x = torch.tensor(images, dtype=torch.float32) / 16.0
    return x, torch.tensor(labels)


def accuracy(model, x, y):
    model.eval()
    correct = (model(x).argmax(dim=1) == y).float().mean().item()
    model.train()
    return correct


def train_epoch(model, loss_fn, optimizer, x, y, batch_size, generator):
    for idx in torch.randperm(len(x), generator=generator).split(batch_size):
        loss_fn(model(x[idx]), y[idx])
        optimizer.zero_grad()
        model.backward(loss_fn.backward())
        optimizer.step()


def test_mlp_overfits_20_samples(digits):
    torch.manual_seed(0)
    x, y = digits[0][:20], digits[1][:20]
    model = scratch.MLP(64, 10, [128, 128, 128])
    loss_fn = scratch.CrossEntropyLoss()
    optimizer = optim.MomentumSGD(model.params(), learn_rate=0.05, momentum=0.9)
    generator = torch.Generator().manual_seed(0)
    epochs = 0
    while accuracy(model, x, y) < 1.0 and epochs < 30:
        train_epoch(model, loss_fn, optimizer, x, y, 5, generator)
        epochs += 1
    assert accuracy(model, x, y) == 1.0 and epochs < 30


def test_cnn_learns_digits(digits):
    torch.manual_seed(0)
    x, y = digits[0].reshape(-1, 1, 8, 8), digits[1]
    split = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    train, test = split[:1400], split[1400:]
    model = scratch.Sequential(
        scratch.Conv2d(1, 8, 3, padding=1),
        scratch.ReLU(),
        scratch.MaxPool2d(2),
        scratch.Flatten(),
        scratch.Linear(8 * 4 * 4, 10),
    )
    loss_fn = scratch.CrossEntropyLoss()
    optimizer = optim.Adam(model.params(), learn_rate=0.01)
    generator = torch.Generator().manual_seed(0)
    for _ in range(4):
        train_epoch(model, loss_fn, optimizer, x[train], y[train], 32, generator)
    assert accuracy(model, x[test], y[test]) > 0.9
