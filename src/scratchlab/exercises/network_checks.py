"""Checks of networks: Sequential, the MLP builder and the functional network."""

from __future__ import annotations

import itertools
from functools import partial
from typing import Any

import torch
from torch import Tensor

from scratchlab import optim, scratch
from scratchlab.exercises.checklib import (
    AUTOGRAD_TOL,
    F64,
    Check,
    CheckFailed,
    Namespace,
    assert_close,
    autograd_check,
    finite_difference,
    randn,
    seeded,
    tensor,
)
from scratchlab.exercises.layer_checks import default_dout


def _stack(ns: Namespace, loss: bool) -> tuple[Any, list[Any]]:
    """A float64 Sequential of library layers (ending in a loss if `loss`) and the layers."""
    seeded()
    layers = [scratch.Linear(4, 5), scratch.TanH(), scratch.Linear(5, 3)]
    layers += [scratch.CrossEntropyLoss()] if loss else []
    for layer in layers:
        layer.to(dtype=F64)
    return ns["Sequential"](*layers), layers


def _batch() -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(3)
    return randn(6, 4, gen=gen), torch.randint(0, 3, (6,), generator=gen)


def _sequential_forward(loss: bool, ns: Namespace) -> None:
    seq, layers = _stack(ns, loss)
    x, y = _batch()
    want = layers[2](layers[1](layers[0](x)))
    if loss:
        want = layers[3](want, y=y)
        got, what = seq(x, y=y), "Sequential(..., CrossEntropyLoss())(x, y=y)"
    else:
        got, what = seq(x), "Sequential forward"
    assert_close(what, got, want, "the layers applied in order")


SEQUENTIAL = (
    Check("Sequential forward applies the layers in order", partial(_sequential_forward, False)),
    Check("Sequential forward passes y to the last layer", partial(_sequential_forward, True)),
    Check(
        "Sequential backward matches autograd",
        lambda ns: autograd_check("Sequential", _stack(ns, False)[0], _batch()[0]),
    ),
    Check(
        "Sequential backward() from a final loss matches autograd",
        lambda ns: default_dout("Sequential", _stack(ns, True)[0], *_batch()),
    ),
    Check(
        "Sequential backward passes finite differences",
        lambda ns: finite_difference("Sequential", _stack(ns, True)[0], *_batch()),
    ),
)


def _expected(sizes: list[int], activation: str, dropout: float) -> list[str]:
    names = []
    for d_in, d_out in itertools.pairwise(sizes[:-1]):
        names += [repr(scratch.Linear(d_in, d_out)), repr(scratch.activation_layer(activation))]
        names += [repr(scratch.Dropout(dropout))] if dropout else []
    return [*names, repr(scratch.Linear(sizes[-2], sizes[-1]))]


def _mlp_layers(dropout: float, ns: Namespace) -> None:
    mlp = ns["MLP"](6, 3, [5, 4], activation="tanh", dropout=dropout)
    got = [repr(layer) for layer in getattr(mlp, "sequence", [])]
    want = _expected([6, 5, 4, 3], "tanh", dropout)
    if got != want:
        raise CheckFailed(
            f"MLP(6, 3, [5, 4], activation='tanh', dropout={dropout}).sequence is "
            f"[{', '.join(got)}], expected [{', '.join(want)}]"
        )


def _mlp_activations(ns: Namespace) -> None:
    for name in scratch.ACTIVATIONS:
        layer = ns["MLP"](3, 2, [4], activation=name).sequence[1]
        want = type(scratch.activation_layer(name)).__name__
        if type(layer).__name__ != want:
            raise CheckFailed(f"MLP(activation={name!r}) uses {layer!r}, expected {want}")


def _mlp_wstd(ns: Namespace) -> None:
    seeded()
    mlp = ns["MLP"](400, 10, [300], wstd=0.05)
    for i, layer in enumerate(mlp.sequence):
        w = getattr(layer, "w", None)
        if w is not None and abs(float(w.std()) - 0.05) > 0.005:
            raise CheckFailed(f"MLP(wstd=0.05): layer {i} has weights of std {float(w.std()):.3g}")


def _mlp_autograd(ns: Namespace) -> None:
    seeded()
    mlp = ns["MLP"](4, 3, [5, 6], activation="lrelu").to(dtype=F64)
    autograd_check("MLP", mlp, _batch()[0])


def _mlp_overfit(ns: Namespace) -> None:
    gen = seeded()
    x, y = torch.randn(12, 2, generator=gen), torch.randint(0, 3, (12,), generator=gen)
    mlp, loss_fn = ns["MLP"](2, 3, [32]), scratch.CrossEntropyLoss()
    optimizer = optim.Adam(mlp.params(), learn_rate=0.05)
    for _ in range(150):
        loss = loss_fn(mlp(x), y)
        optimizer.zero_grad()
        mlp.backward(loss_fn.backward())
        optimizer.step()
    accuracy = float((tensor("MLP forward", mlp(x)).argmax(dim=1) == y).double().mean())
    if accuracy < 1 or float(loss) > 0.1:
        raise CheckFailed(
            f"MLP(2, 3, [32]) trained 150 Adam steps on 12 points: loss {float(loss):.3g}, "
            f"train accuracy {100 * accuracy:.0f}% (expected 100%, loss < 0.1)"
        )


MLP = (
    Check("MLP builds Linear, activation, Dropout, ..., Linear", partial(_mlp_layers, 0.25)),
    Check("MLP with dropout=0 has no Dropout layer", partial(_mlp_layers, 0.0)),
    Check("MLP picks the activation layer by name", _mlp_activations),
    Check("MLP passes wstd to its Linear layers", _mlp_wstd),
    Check(
        "MLP repr works (it reads the attributes set by __init__)",
        lambda ns: repr(ns["MLP"](3, 2, [4], activation="sigmoid", dropout=0.5)),
    ),
    Check("MLP backward matches autograd", _mlp_autograd),
    Check("a tiny MLP overfits 12 points", _mlp_overfit),
)


def _params(activations: list[str | None]) -> list[tuple[Tensor, Tensor, str | None]]:
    gen = seeded()
    sizes = [4, 6, 5, 5, 3, 2][: len(activations) + 1]
    return [
        (randn(d_in, d_out, gen=gen), randn(d_out, gen=gen, scale=0.1), act)
        for d_in, d_out, act in zip(sizes[:-1], sizes[1:], activations, strict=True)
    ]


ACTS: list[str | None] = ["relu", "tanh", "lrelu", "sigmoid", None]


def _compose(x: Tensor, params: list[tuple[Tensor, Tensor, str | None]]) -> Tensor:
    for w, b, act in params:
        x = scratch.functional.FUNCTIONS[act or "identity"](x @ w + b)
    return x


def _network(ns: Namespace) -> None:
    params, x = _params(ACTS), randn(7, 4, gen=torch.Generator().manual_seed(5))
    want = _compose(x, params)
    assert_close("network(x, params)", ns["network"](x, params), want, "activation(x @ w + b)")


def _network_backward(ns: Namespace) -> None:
    params, x = _params(ACTS), randn(7, 4, gen=torch.Generator().manual_seed(5))
    tensors = [t.clone().requires_grad_(True) for w, b, _ in params for t in (w, b)]
    x_ref = x.clone().requires_grad_(True)
    leaves = [(tensors[2 * i], tensors[2 * i + 1], p[2]) for i, p in enumerate(params)]
    out = _compose(x_ref, leaves)
    dout = randn(*out.shape, gen=torch.Generator().manual_seed(6))
    refs = torch.autograd.grad(out, [x_ref, *tensors], dout)
    result = ns["network_backward"](x, params, dout)
    if not isinstance(result, tuple | list) or len(result) != 2 or len(result[1]) != len(params):
        raise CheckFailed("network_backward must return (dx, [(dw, db) per layer])")
    names = ["dx"] + [f"{n}[{i}]" for i in range(len(params)) for n in ("dw", "db")]
    ours = [result[0]] + [g for pair in result[1] for g in pair]
    for name, mine, ref in zip(names, ours, refs, strict=True):
        assert_close(f"network_backward's {name}", mine, ref, "autograd", 0, AUTOGRAD_TOL)


FUNCTIONAL = (
    Check("network applies activation(x @ w + b) layer after layer", _network),
    Check("network_backward matches autograd", _network_backward),
)
