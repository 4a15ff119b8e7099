"""The configurable convolutional classifier `CNN`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from scratchlab.errors import ConfigError, ShapeError
from scratchlab.models.layers import (
    check_in_size,
    check_kwargs,
    dry_run,
    make_activation,
    make_pool,
    positive_int,
    positive_ints,
)
from scratchlab.models.mlp import MLP

DEFAULT_CONV_PARAMS: dict[str, Any] = {"kernel_size": 3, "padding": 1}


class CNN(nn.Module):
    """`[(CONV -> ACT)*P -> POOL]*(N/P) -> (FC -> ACT)*M -> FC`.

    When N is not a multiple of P the last, partial group of convolutions has no pool. The
    flattened feature size is found by a dry run of `feature_extractor` on a zero input.

    Args:
        in_size: input shape (C, H, W).
        out_classes: number of output scores.
        channels: output channels of each of the N convolutions.
        pool_every: P, the number of convolutions between pools.
        hidden_dims: sizes of the M hidden Linear layers of the head.
        conv_params: keyword arguments of every `nn.Conv2d`; default {kernel_size: 3, padding: 1}.
        activation_type: activation name (see `scratchlab.models.layers.ACTIVATIONS`).
        activation_params: keyword arguments of the activation (e.g. negative_slope).
        pooling_type: `max` or `avg`.
        pooling_params: keyword arguments of the pooling layer; default {kernel_size: 2}.

    Attributes:
        feature_extractor: the convolutional part (`nn.Sequential`).
        mlp: the fully connected head (`MLP`).
    """

    head_dropout = 0.0  # dropout between the head's Linear layers (set by subclasses)

    def __init__(
        self,
        in_size: Sequence[int],
        out_classes: int,
        channels: Sequence[int],
        pool_every: int,
        hidden_dims: Sequence[int],
        conv_params: Mapping[str, Any] | None = None,
        activation_type: str = "relu",
        activation_params: Mapping[str, Any] | None = None,
        pooling_type: str = "max",
        pooling_params: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.in_size = check_in_size(in_size)
        self.out_classes = positive_int("out_classes", out_classes)
        self.channels = positive_ints("channels", channels, allow_empty=False)
        self.pool_every = positive_int("pool_every", pool_every)
        self.hidden_dims = positive_ints("hidden_dims", hidden_dims)
        self.conv_params = self._check_conv_params(conv_params)
        self.activation_type = activation_type
        self.activation_params = dict(activation_params or {})
        self.pooling_type = pooling_type
        self.pooling_params = dict(pooling_params or {})
        make_activation(activation_type, activation_params)  # fail early on a bad name
        make_pool(pooling_type, pooling_params)
        self.feature_extractor = self._make_feature_extractor()
        self.n_features = dry_run(self.feature_extractor, self.in_size).numel()
        self.mlp = self._make_mlp(self.n_features)

    @staticmethod
    def _check_conv_params(conv_params: Mapping[str, Any] | None) -> dict[str, Any]:
        if conv_params is None:
            return dict(DEFAULT_CONV_PARAMS)
        params = check_kwargs("conv_params", nn.Conv2d, conv_params)
        for fixed in ("in_channels", "out_channels"):
            if fixed in params:
                raise ConfigError(f"conv_params: {fixed} is set by channels; remove it")
        if "kernel_size" not in params:
            raise ConfigError("conv_params: give kernel_size (e.g. {kernel_size: 3, padding: 1})")
        return params

    def _activation(self) -> nn.Module:
        return make_activation(self.activation_type, self.activation_params)

    def _pool(self) -> nn.Module:
        return make_pool(self.pooling_type, self.pooling_params)

    def _groups(self) -> list[list[int]]:
        """The channels split into groups of `pool_every` (the last may be shorter)."""
        p = self.pool_every
        return [self.channels[i : i + p] for i in range(0, len(self.channels), p)]

    def _make_feature_extractor(self) -> nn.Sequential:
        layers: list[nn.Module] = []
        in_channels = self.in_size[0]
        for group in self._groups():
            for out_channels in group:
                layers += [nn.Conv2d(in_channels, out_channels, **self.conv_params)]
                layers += [self._activation()]
                in_channels = out_channels
            if len(group) == self.pool_every:
                layers.append(self._pool())
        return nn.Sequential(*layers)

    def _make_mlp(self, n_features: int) -> MLP:
        return MLP.build(
            n_features,
            self.hidden_dims,
            self.out_classes,
            activation=self.activation_type,
            activation_params=self.activation_params,
            dropout=self.head_dropout,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores (N, out_classes) for images (N, C, H, W)."""
        features = self.feature_extractor(x).flatten(1)
        if features.shape[1] != self.n_features:
            raise ShapeError(
                f"{type(self).__name__} built for inputs {self.in_size} got {tuple(x.shape[1:])}; "
                f"build it with in_size={tuple(x.shape[1:])}"
            )
        return self.mlp(features)
