"""A multilayer perceptron built from scratch layers."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

from torch import Tensor

from scratchlab.errors import ConfigError
from scratchlab.scratch.activations import LeakyReLU, ReLU, Sigmoid, TanH
from scratchlab.scratch.layer import Layer, Sequential
from scratchlab.scratch.linear import Dropout, Linear

ACTIVATIONS: dict[str, Callable[[], Layer]] = {
    "relu": ReLU,
    "sigmoid": Sigmoid,
    "tanh": TanH,
    "lrelu": LeakyReLU,
}


def activation_layer(name: str) -> Layer:
    """A fresh activation layer by name (one of `ACTIVATIONS`)."""
    if name not in ACTIVATIONS:
        raise ConfigError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class MLP(Layer):
    """Linear, activation, [Dropout], ..., Linear: class scores for (N, in_features) inputs.

    Args:
        in_features: input size.
        num_classes: output size.
        hidden_features: the size of each hidden layer.
        activation: one of "relu", "sigmoid", "tanh", "lrelu".
        dropout: drop probability after each activation (0 adds no Dropout layer).
        wstd: std of the initial weights of each Linear layer.
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        hidden_features: Sequence[int],
        activation: str = "relu",
        dropout: float = 0.0,
        wstd: float = 0.1,
    ) -> None:
        super().__init__()
        if not 0 <= dropout < 1:
            raise ConfigError(f"MLP dropout must be in [0, 1), got dropout={dropout}")
        self.in_features, self.num_classes = in_features, num_classes
        self.hidden_features, self.activation = list(hidden_features), activation
        self.dropout = dropout
        sizes = [in_features, *self.hidden_features]
        layers: list[Layer] = []
        for d_in, d_out in itertools.pairwise(sizes):
            layers += [Linear(d_in, d_out, wstd=wstd), activation_layer(activation)]
            if dropout > 0:
                layers.append(Dropout(dropout))
        layers.append(Linear(sizes[-1], num_classes, wstd=wstd))
        self.sequence = Sequential(*layers)

    def children(self) -> list[tuple[str, Layer]]:
        return [("sequence", self.sequence)]

    def forward(self, x: Tensor, **kw: Any) -> Tensor:
        return self.sequence(x, **kw)

    def backward(self, dout: Tensor) -> Tensor:
        return self.sequence.backward(dout)

    def __repr__(self) -> str:
        head = (
            f"MLP(in_features={self.in_features}, num_classes={self.num_classes}, "
            f"hidden_features={self.hidden_features}, activation={self.activation!r}, "
            f"dropout={self.dropout})"
        )
        return head + "\n" + repr(self.sequence)
