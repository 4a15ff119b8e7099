"""Checks of the trainer's batch steps (`LayerTrainer.train_batch` and `test_batch`)."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor

from scratchlab import optim, scratch
from scratchlab.exercises.checklib import Check, CheckFailed, Namespace, seeded


def _setup(ns: Namespace, classes: int = 3, adam: bool = False) -> tuple[Any, ...]:
    """(trainer, its model, a twin (model, loss, optimizer), inputs (N, 1, 2, 3), labels)."""
    gen = seeded()
    model = scratch.MLP(6, classes, [8])
    twin = copy.deepcopy(model)
    optimizer = optim.Adam(model.params(), 0.05) if adam else optim.VanillaSGD(model.params(), 0.1)
    trainer = ns["LayerTrainer"](model, scratch.CrossEntropyLoss(), optimizer)
    reference = (twin, scratch.CrossEntropyLoss(), optim.VanillaSGD(twin.params(), 0.1))
    x, y = torch.randn(10, 1, 2, 3, generator=gen), torch.randint(0, classes, (10,), generator=gen)
    return trainer, model, reference, x, y


def _unpack(what: str, result: Any) -> tuple[float, int]:
    try:
        loss, num_correct = result
        return float(loss), int(num_correct)
    except (TypeError, ValueError):
        raise CheckFailed(
            f"{what} returned {type(result).__name__}; return BatchResult(loss, num_correct)"
        ) from None


def _by_hand(reference: tuple[Any, Any, Any], x: Tensor, y: Tensor, train: bool) -> tuple:
    model, loss_fn, optimizer = reference
    scores = model(x.reshape(len(x), -1))
    loss = loss_fn(scores, y)
    if train:
        optimizer.zero_grad()
        model.backward(loss_fn.backward())
        optimizer.step()
    return float(loss), int((scores.argmax(dim=1) == y).sum())


def _same_result(what: str, got: tuple[float, int], want: tuple[float, int]) -> None:
    if abs(got[0] - want[0]) > 1e-5 * max(1.0, abs(want[0])) or got[1] != want[1]:
        raise CheckFailed(
            f"{what} returned (loss={got[0]:.6g}, num_correct={got[1]}), expected "
            f"(loss={want[0]:.6g}, num_correct={want[1]})"
        )


def _same_params(what: str, model: Any, twin: Any) -> None:
    for (name, mine), ref in zip(
        model.state_dict().items(), twin.state_dict().values(), strict=True
    ):
        if not torch.allclose(mine, ref, rtol=1e-5, atol=1e-7):
            diff = float((mine - ref).abs().max())
            raise CheckFailed(f"{what}: parameter {name} differs by {diff:.3g} from {_STEP}")


_STEP = "forward, loss, zero_grad, backward, step"


def _train_steps(steps: int, ns: Namespace) -> None:
    trainer, model, reference, x, y = _setup(ns)
    for step in range(1, steps + 1):
        got = _unpack("train_batch", trainer.train_batch((x, y)))
        want = _by_hand(reference, x, y, train=True)
        _same_result(f"train_batch (step {step})", got, want)
        _same_params(f"after train_batch step {step}", model, reference[0])


def _test_step(ns: Namespace) -> None:
    trainer, model, reference, x, y = _setup(ns)
    before = model.state_dict()
    grads = [grad.clone() for _, grad in model.params()]
    got = _unpack("test_batch", trainer.test_batch((x, y)))
    _same_result("test_batch", got, _by_hand(reference, x, y, train=False))
    for name, value in model.state_dict().items():
        if not torch.equal(value, before[name]):
            raise CheckFailed(f"test_batch changed parameter {name}; it must only evaluate")
    for (_, grad), old in zip(model.params(), grads, strict=True):
        if not torch.equal(grad, old):
            raise CheckFailed("test_batch changed a gradient; it must not call backward")


def _overfit(ns: Namespace) -> None:
    trainer, _, _, x, y = _setup(ns, classes=4, adam=True)
    for _ in range(80):
        trainer.train_batch((x, y))
    loss, correct = _unpack("test_batch", trainer.test_batch((x, y)))
    if correct != len(y):
        raise CheckFailed(
            f"80 train_batch steps (Adam) on 10 points left {correct}/{len(y)} correct "
            f"(loss {loss:.3g}); expected all"
        )


TRAINER = (
    Check(f"train_batch is {_STEP}", lambda ns: _train_steps(1, ns)),
    Check("train_batch zeroes the gradients before backward", lambda ns: _train_steps(3, ns)),
    Check("test_batch returns loss and correct count, changing nothing", _test_step),
    Check("LayerTrainer overfits 10 points", _overfit),
)
