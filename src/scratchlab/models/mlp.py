"""Fully connected networks."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from scratchlab.errors import ConfigError, ShapeError
from scratchlab.models.layers import (
    ActivationSpec,
    check_dropout,
    make_activation,
    positive_int,
    positive_ints,
)


class MLP(nn.Sequential):
    """Linear layers, each followed by its nonlinearity; flattens its input, so it accepts images.

    Indexing gives the layers (`mlp[0]` is the first `nn.Linear`). Identity nonlinearities
    (`"none"`) add no module.

    Args:
        in_dim: number of input features (after flattening).
        dims: output size of each Linear layer.
        nonlins: one nonlinearity per layer: a name (`relu`, `lrelu`, `tanh`, `sigmoid`, `gelu`,
            `silu`, `elu`, `softmax`, `logsoftmax` (over dim 1), `none`/`identity`), None, an
            `nn.Module` class or an `nn.Module`.
        dropout: dropout probability after every layer but the last.
        batchnorm: BatchNorm1d between every Linear but the last and its nonlinearity.
    """

    def __init__(
        self,
        in_dim: int,
        dims: Sequence[int],
        nonlins: Sequence[ActivationSpec],
        dropout: float = 0.0,
        batchnorm: bool = False,
    ) -> None:
        dims = positive_ints("dims", dims, allow_empty=False)
        if len(nonlins) != len(dims):
            raise ConfigError(f"nonlins: give one per layer ({len(dims)} dims), got {len(nonlins)}")
        dropout = check_dropout(dropout)
        layers: list[nn.Module] = []
        prev = positive_int("in_dim", in_dim)
        for i, (dim, nonlin) in enumerate(zip(dims, nonlins, strict=True)):
            last = i == len(dims) - 1
            layers.append(nn.Linear(prev, dim))
            if batchnorm and not last:
                layers.append(nn.BatchNorm1d(dim))
            act = make_activation(nonlin)
            if not isinstance(act, nn.Identity):
                layers.append(act)
            if dropout > 0 and not last:
                layers.append(nn.Dropout(dropout))
            prev = dim
        super().__init__(*layers)
        self.in_dim = in_dim
        self.out_dim = dims[-1]

    @classmethod
    def build(
        cls,
        in_dim: int,
        hidden_dims: Sequence[int],
        out_dim: int,
        activation: ActivationSpec = "relu",
        dropout: float = 0.0,
        batchnorm: bool = False,
        activation_params: Mapping[str, Any] | None = None,
    ) -> MLP:
        """An MLP with `activation` after every hidden layer and none after the last Linear."""
        hidden_dims = positive_ints("hidden_dims", hidden_dims)
        nonlins: list[ActivationSpec] = []
        for _ in hidden_dims:
            act = make_activation(activation, activation_params)
            nonlins.append(copy.deepcopy(act) if act is activation else act)
        return cls(in_dim, [*hidden_dims, out_dim], [*nonlins, "none"], dropout, batchnorm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scores of shape (N, out_dim) for an input of shape (N, ...)."""
        x = x.flatten(1)
        if x.shape[1] != self.in_dim:
            raise ShapeError(
                f"MLP expects {self.in_dim} features per sample, got {x.shape[1]} "
                f"(input shape {tuple(x.shape)}); build it with in_dim={x.shape[1]}"
            )
        return super().forward(x)
