"""Residual blocks and the residual network `ResNet`."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from scratchlab.errors import ConfigError
from scratchlab.models.cnn import CNN
from scratchlab.models.layers import (
    check_dropout,
    check_kwargs,
    make_activation,
    positive_int,
    positive_ints,
)

COURSE_KERNEL = 3  # the course's residual blocks use dimension-preserving 3x3 convolutions


def same_size_conv_params(conv_params: Mapping[str, Any] | None) -> dict[str, Any]:
    """`{kernel_size: k}` for the residual blocks' convolutions, from `conv_params`.

    An odd kernel with `padding: k // 2` and `stride: 1` (or without them) is used in every block.
    Other settings, such as the course's `{kernel_size: 2, stride: 1, padding: 1}`, cannot keep
    the map size; as in the course the blocks then keep their 3x3 kernels (with a warning).
    """
    params = check_kwargs("conv_params", nn.Conv2d, conv_params)
    k = positive_int("conv_params.kernel_size", params.pop("kernel_size", COURSE_KERNEL))
    expected = {"padding": k // 2, "stride": 1}
    others = {key: v for key, v in params.items() if expected.get(key, object()) != v}
    if k % 2 == 1 and not others:
        return {"kernel_size": k}
    warnings.warn(
        f"conv_params {dict(conv_params or {})} do not keep the map size; the residual blocks "
        f"use {COURSE_KERNEL}x{COURSE_KERNEL} convolutions, as in the course",
        stacklevel=2,
    )
    return {"kernel_size": COURSE_KERNEL}


class ResidualBlock(nn.Module):
    """`relu(main_path(x) + shortcut_path(x))`.

    `main_path` is conv -> [Dropout2d] -> [BatchNorm2d] -> activation between convolutions and
    nothing after the last one; every convolution keeps the spatial size (odd kernels, padding
    k // 2). `shortcut_path` is the identity, or a bias-free 1x1 convolution when the channel
    counts differ.

    Args:
        in_channels: channels of the input.
        channels: output channels of each convolution of the main path.
        kernel_sizes: odd kernel size of each convolution.
        batchnorm: BatchNorm2d between convolutions.
        dropout: Dropout2d probability between convolutions (0 for none).
        activation_type: activation name between convolutions.
        activation_params: keyword arguments of the activation.
    """

    def __init__(
        self,
        in_channels: int,
        channels: Sequence[int],
        kernel_sizes: Sequence[int],
        batchnorm: bool = False,
        dropout: float = 0.0,
        activation_type: str = "relu",
        activation_params: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        channels = positive_ints("channels", channels, allow_empty=False)
        kernel_sizes = positive_ints("kernel_sizes", kernel_sizes, allow_empty=False)
        if len(kernel_sizes) != len(channels):
            raise ConfigError(
                f"kernel_sizes: give one per convolution ({len(channels)}), got {len(kernel_sizes)}"
            )
        even = [k for k in kernel_sizes if k % 2 == 0]
        if even:
            raise ConfigError(f"kernel_sizes: residual blocks need odd kernels, got {even}")
        dropout = check_dropout(dropout)
        layers: list[nn.Module] = []
        prev = positive_int("in_channels", in_channels)
        for i, (out_channels, k) in enumerate(zip(channels, kernel_sizes, strict=True)):
            layers.append(nn.Conv2d(prev, out_channels, k, padding=k // 2))
            if i < len(channels) - 1:
                if dropout > 0:
                    layers.append(nn.Dropout2d(dropout))
                if batchnorm:
                    layers.append(nn.BatchNorm2d(out_channels))
                layers.append(make_activation(activation_type, activation_params))
            prev = out_channels
        self.main_path = nn.Sequential(*layers)
        self.shortcut_path: nn.Module = (
            nn.Identity()
            if in_channels == channels[-1]
            else nn.Conv2d(in_channels, channels[-1], 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output, same spatial size as `x`."""
        return torch.relu(self.main_path(x) + self.shortcut_path(x))


class ResidualBottleneckBlock(ResidualBlock):
    """1x1 projection down to `inner_channels[0]`, the inner convolutions, 1x1 projection up.

    The input and output both have `in_out_channels` channels, so the shortcut is the identity.

    Args:
        in_out_channels: channels of the input and the output.
        inner_channels: output channels of each inner convolution.
        inner_kernel_sizes: odd kernel size of each inner convolution.
        **block_kwargs: batchnorm, dropout, activation_type, activation_params of `ResidualBlock`.
    """

    def __init__(
        self,
        in_out_channels: int,
        inner_channels: Sequence[int],
        inner_kernel_sizes: Sequence[int],
        **block_kwargs: Any,
    ) -> None:
        inner_channels = positive_ints("inner_channels", inner_channels, allow_empty=False)
        super().__init__(
            in_channels=in_out_channels,
            channels=[inner_channels[0], *inner_channels, in_out_channels],
            kernel_sizes=[1, *inner_kernel_sizes, 1],
            **block_kwargs,
        )


class ResNet(CNN):
    """`CNN` whose groups of `pool_every` convolutions are residual blocks, pools between groups.

    A group whose input channels equal its first and last channels, with at least three
    convolutions, becomes a `ResidualBottleneckBlock` when `bottleneck` is set: it keeps that
    width at its input and output and its inner convolutions take the middle entries
    (`[64, 16, 64]` gives 1x1 64->16, 3x3 16->16, 1x1 16->64).
    Otherwise a group is a `ResidualBlock`. Convolutions keep the spatial size, so only an odd
    kernel size of `conv_params` is used (padding k // 2, stride 1); conv_params that cannot keep
    the size (the course's `{kernel_size: 2, stride: 1, padding: 1}`) leave the blocks at 3x3,
    which is what the course's ResNet always uses.

    Args:
        in_size, out_classes, channels, pool_every, hidden_dims: as in `CNN`.
        batchnorm: BatchNorm2d inside the blocks.
        dropout: Dropout2d probability inside the blocks.
        bottleneck: use bottleneck blocks where the channel pattern allows.
        conv_params, activation_type, activation_params, pooling_type, pooling_params: as in `CNN`.
    """

    _check_conv_params = staticmethod(same_size_conv_params)

    def __init__(
        self,
        in_size: Sequence[int],
        out_classes: int,
        channels: Sequence[int],
        pool_every: int,
        hidden_dims: Sequence[int],
        batchnorm: bool = False,
        dropout: float = 0.0,
        bottleneck: bool = False,
        conv_params: Mapping[str, Any] | None = None,
        activation_type: str = "relu",
        activation_params: Mapping[str, Any] | None = None,
        pooling_type: str = "max",
        pooling_params: Mapping[str, Any] | None = None,
    ) -> None:
        self.batchnorm = bool(batchnorm)
        self.dropout = check_dropout(dropout)
        self.bottleneck = bool(bottleneck)
        super().__init__(
            in_size,
            out_classes,
            channels,
            pool_every,
            hidden_dims,
            conv_params=conv_params,
            activation_type=activation_type,
            activation_params=activation_params,
            pooling_type=pooling_type,
            pooling_params=pooling_params,
        )

    def _make_feature_extractor(self) -> nn.Sequential:
        block_kwargs = dict(
            batchnorm=self.batchnorm,
            dropout=self.dropout,
            activation_type=self.activation_type,
            activation_params=self.activation_params,
        )
        k = self.conv_params["kernel_size"]
        layers: list[nn.Module] = []
        in_channels = self.in_size[0]
        for group in self._groups():
            if self.bottleneck and len(group) >= 3 and in_channels == group[0] == group[-1]:
                inner = group[1:-1]
                layers.append(
                    ResidualBottleneckBlock(group[0], inner, [k] * len(inner), **block_kwargs)
                )
            else:
                layers.append(ResidualBlock(in_channels, group, [k] * len(group), **block_kwargs))
            in_channels = group[-1]
            if len(group) == self.pool_every:
                layers.append(self._pool())
        return nn.Sequential(*layers)
