"""Checks of the element-wise layers: activations, Linear, cross-entropy and Dropout."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from scratchlab.exercises.checklib import (
    F64,
    Check,
    CheckFailed,
    Namespace,
    assert_close,
    autograd_check,
    finite_difference,
    grads_accumulate,
    randn,
    seeded,
    tensor,
)

ACTIVATIONS: dict[str, tuple[dict[str, Any], Callable[[Tensor], Tensor], str]] = {
    "ReLU": ({}, torch.relu, "torch.relu"),
    "LeakyReLU": ({"alpha": 0.2}, lambda x: F.leaky_relu(x, 0.2), "F.leaky_relu(x, 0.2)"),
    "Sigmoid": ({}, torch.sigmoid, "torch.sigmoid"),
    "TanH": ({}, torch.tanh, "torch.tanh"),
}


def _make(ns: Namespace, name: str, *args: Any, **kwargs: Any) -> Any:
    """A float64 instance of the namespace's class `name`."""
    return ns[name](*args, **kwargs).to(dtype=F64)


def _activation_forward(name: str, ns: Namespace) -> None:
    kwargs, fn, reference = ACTIVATIONS[name]
    x = randn(4, 3, 5, gen=seeded(), scale=2.0)
    assert_close(f"{name} forward", _make(ns, name, **kwargs)(x), fn(x), reference)


def _activation_backward(name: str, fd: bool, ns: Namespace) -> None:
    kwargs, _, _ = ACTIVATIONS[name]
    x = randn(4, 3, 5, gen=seeded(), scale=2.0)
    check = finite_difference if fd else autograd_check
    check(f"{name}.backward", _make(ns, name, **kwargs), x)


def activation_checks() -> tuple[Check, ...]:
    checks = []
    for name, (_, _, reference) in ACTIVATIONS.items():
        checks += [
            Check(f"{name} forward matches {reference}", partial(_activation_forward, name)),
            Check(f"{name} backward matches autograd", partial(_activation_backward, name, False)),
            Check(
                f"{name} backward passes finite differences",
                partial(_activation_backward, name, True),
            ),
        ]
    return tuple(checks)


def _linear(ns: Namespace) -> tuple[Any, Tensor]:
    gen = seeded()
    return _make(ns, "Linear", 5, 3), randn(4, 5, gen=gen)


def _linear_forward(ns: Namespace) -> None:
    layer, x = _linear(ns)
    assert_close("Linear forward", layer(x), F.linear(x, layer.w, layer.b), "F.linear(x, w, b)")


LINEAR = (
    Check("Linear forward matches x w^T + b", _linear_forward),
    Check("Linear backward matches autograd", lambda ns: autograd_check("Linear", *_linear(ns))),
    Check(
        "Linear backward passes finite differences",
        lambda ns: finite_difference("Linear", *_linear(ns)),
    ),
    Check(
        "Linear backward adds into its gradients",
        lambda ns: grads_accumulate("Linear.backward", *_linear(ns)),
    ),
)


def _scores(scale: float = 1.0) -> tuple[Tensor, Tensor]:
    gen = seeded()
    return randn(6, 4, gen=gen, scale=scale), torch.randint(0, 4, (6,), generator=gen)


def _ce_forward(scale: float, ns: Namespace) -> None:
    x, y = _scores(scale)
    assert_close(
        f"CrossEntropyLoss forward (scores of size {scale:g})",
        ns["CrossEntropyLoss"]()(x, y=y),
        F.cross_entropy(x, y),
        "F.cross_entropy",
    )


def default_dout(what: str, layer: Any, x: Tensor, y: Tensor) -> None:
    """`layer.backward()` after a loss forward equals autograd's input gradient of the loss."""
    twin = copy.deepcopy(layer)
    x_ref = x.clone().requires_grad_(True)
    for param, _ in twin.params():
        param.requires_grad_(True)
    (want,) = torch.autograd.grad(twin(x_ref, y=y), [x_ref])
    layer(x, y=y)
    assert_close(f"{what}.backward() with no argument", layer.backward(), want, "autograd")


CROSS_ENTROPY = (
    Check("CrossEntropyLoss forward matches F.cross_entropy", partial(_ce_forward, 1.0)),
    Check("CrossEntropyLoss forward is stable for large scores", partial(_ce_forward, 1000.0)),
    Check(
        "CrossEntropyLoss backward matches autograd",
        lambda ns: autograd_check("CrossEntropyLoss", ns["CrossEntropyLoss"](), *_scores()),
    ),
    Check(
        "CrossEntropyLoss backward() defaults to dout = 1",
        lambda ns: default_dout("CrossEntropyLoss", ns["CrossEntropyLoss"](), *_scores()),
    ),
    Check(
        "CrossEntropyLoss backward passes finite differences",
        lambda ns: finite_difference("CrossEntropyLoss", ns["CrossEntropyLoss"](), *_scores()),
    ),
)


def _positive(*shape: int) -> Tensor:
    return randn(*shape, gen=seeded()).abs() + 1.0


def _dropout_eval(ns: Namespace) -> None:
    x = _positive(5, 7)
    layer = ns["Dropout"](0.5)
    layer.eval()
    assert_close("Dropout(0.5) forward in eval mode", layer(x), x, "its input")
    assert_close("Dropout(0.5) backward in eval mode", layer.backward(x * 3), x * 3, "dout")


def _dropout_p0(ns: Namespace) -> None:
    x = _positive(5, 7)
    assert_close("Dropout(0.0) forward in training", ns["Dropout"](0.0)(x), x, "its input")


def _dropout_mask(ns: Namespace) -> None:
    x, p = _positive(200, 100), 0.3
    out = tensor("Dropout forward", ns["Dropout"](p)(x))
    zeros = float((out == 0).to(F64).mean())
    if abs(zeros - p) > 0.02:
        raise CheckFailed(f"Dropout(p={p}) zeroed a fraction {zeros:.3f} of the entries, not {p}")
    kept = out != 0
    assert_close("Dropout kept entries", out[kept], x[kept] / (1 - p), "input / (1 - p)")


def _dropout_same_mask(ns: Namespace) -> None:
    x = _positive(20, 30)
    layer = ns["Dropout"](0.4)
    out = tensor("Dropout forward", layer(x))
    dout = randn(20, 30, gen=torch.Generator().manual_seed(1))
    want = dout * out / x
    assert_close("Dropout backward", layer.backward(dout), want, "dout * the forward's mask")


DROPOUT = (
    Check("Dropout in eval mode passes input and gradient through", _dropout_eval),
    Check("Dropout(p=0) passes the input through in training", _dropout_p0),
    Check("Dropout zeroes a fraction p and scales the rest by 1/(1-p)", _dropout_mask),
    Check("Dropout backward uses the forward's mask", _dropout_same_mask),
    Check(
        "Dropout backward matches autograd",
        lambda ns: autograd_check("Dropout", ns["Dropout"](0.5), _positive(6, 8)),
    ),
)
