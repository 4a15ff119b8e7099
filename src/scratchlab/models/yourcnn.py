"""`YourCNN`: our own residual architecture for small images such as CIFAR-10."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from scratchlab.errors import ConfigError
from scratchlab.models.cnn import CNN
from scratchlab.models.layers import check_dropout, positive_int
from scratchlab.models.resnet import ResidualBlock, same_size_conv_params

DEFAULT_CHANNELS = (128, 128, 128, 256, 256, 256, 512, 512, 512)
POOL_POSITIONS = ("after_widen", "before_group")


def _pooled_size(pool: nn.Module, map_size: tuple[int, ...]) -> tuple[int, ...]:
    """Map size after `pool`, (0, 0) where the map is too small for it."""
    try:
        return tuple(pool(torch.zeros(1, 1, *map_size)).shape[-2:])
    except RuntimeError:
        return (0, 0)


class YourCNN(CNN):
    """A fast residual network with batch norm, a safe pooling schedule and global average pooling.

    Layout (the defaults give a ResNet-9-like net: 10 convolutions and one Linear layer):

    - stem: 3x3 conv to `stem_channels` -> BatchNorm -> activation, at full resolution;
    - for every group of `pool_every` channels: a 3x3 conv (no bias) to the group's first width
      -> BatchNorm -> activation, then the rest of the group as residual blocks of two
      convolutions (with BatchNorm; an odd last convolution joins the last block), so deep
      groups train like a ResNet's stages;
    - pooling, by `pool_position`: `after_widen` pools right after every group's widening conv
      (ResNet-9: the costly wide convolutions run at low resolution); `before_group` pools
      before every group but the first (ResNet-20/WRN: the first group keeps full resolution,
      which suits narrow nets such as K = 32-64-128);
    - a pool is added only while the map stays at least `min_map_size` on each side, so no
      configuration collapses the map, however many groups it has;
    - global average pooling -> Dropout -> the MLP head (`hidden_dims`, usually none): the head
      is small and the net accepts any input size (e.g. 28x28 as well as 32x32).

    Initialisation: He (fan-out) for convolutions, BatchNorm at (1, 0), and the last convolution
    of every residual main path at zero, so each block starts as the identity.
    All layers are standard cuDNN convolutions, BatchNorm and pooling (channels_last friendly:
    convert with `model.to(memory_format=torch.channels_last)`), and `forward` has no Python loop
    of its own.

    Args:
        in_size, out_classes, channels, pool_every, hidden_dims: as in `CNN`; the defaults are
            channels (128,)*3 + (256,)*3 + (512,)*3, pool_every 3, no hidden layer.
        conv_params: may set only an odd kernel_size (default 3); padding keeps the map size.
        activation_type, activation_params, pooling_type, pooling_params: as in `CNN`.
        dropout: dropout probability before each Linear layer of the head.
        stem_channels: width of the stem convolution.
        min_map_size: smallest map side a pool may produce.
        pool_position: `after_widen` (default) or `before_group`, see above.
        width_multiplier: every width (channels and stem) is multiplied by this, so a study's
            K list keeps its meaning (the pattern of widths) while the net gets wider.
    """

    _check_conv_params = staticmethod(same_size_conv_params)

    def __init__(
        self,
        in_size: Sequence[int],
        out_classes: int,
        channels: Sequence[int] = DEFAULT_CHANNELS,
        pool_every: int = 3,
        hidden_dims: Sequence[int] = (),
        conv_params: Mapping[str, Any] | None = None,
        activation_type: str = "relu",
        activation_params: Mapping[str, Any] | None = None,
        pooling_type: str = "max",
        pooling_params: Mapping[str, Any] | None = None,
        dropout: float = 0.2,
        stem_channels: int = 64,
        min_map_size: int = 4,
        pool_position: str = "after_widen",
        width_multiplier: int = 1,
    ) -> None:
        if pool_position not in POOL_POSITIONS:
            raise ConfigError(
                f"pool_position must be one of {', '.join(POOL_POSITIONS)}, got {pool_position!r}"
            )
        self.pool_position = pool_position
        self.head_dropout = check_dropout(dropout)
        self.width_multiplier = positive_int("width_multiplier", width_multiplier)
        self.stem_channels = positive_int("stem_channels", stem_channels) * self.width_multiplier
        channels = [positive_int("channels", c) * self.width_multiplier for c in channels]
        self.min_map_size = positive_int("min_map_size", min_map_size)
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
        self._init_weights()

    def _conv_bn_act(self, in_channels: int, out_channels: int) -> list[nn.Module]:
        k = self.conv_params["kernel_size"]
        conv = nn.Conv2d(in_channels, out_channels, k, padding=k // 2, bias=False)
        return [conv, nn.BatchNorm2d(out_channels), self._activation()]

    def _make_feature_extractor(self) -> nn.Sequential:
        layers = self._conv_bn_act(self.in_size[0], self.stem_channels)
        in_channels, map_size = self.stem_channels, self.in_size[1:]
        for i, group in enumerate(self._groups()):
            if self.pool_position == "before_group" and i > 0:
                map_size = self._maybe_pool(layers, map_size)
            layers += self._conv_bn_act(in_channels, group[0])
            if self.pool_position == "after_widen":
                map_size = self._maybe_pool(layers, map_size)
            layers += self._residual_blocks(group)
            in_channels = group[-1]
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        if self.head_dropout > 0:
            layers.append(nn.Dropout(self.head_dropout))
        return nn.Sequential(*layers)

    def _maybe_pool(self, layers: list[nn.Module], map_size: tuple[int, ...]) -> tuple[int, ...]:
        """Append a pool when the map stays at least `min_map_size`; the new map size."""
        pool = self._pool()
        pooled = _pooled_size(pool, map_size)
        if min(pooled) < self.min_map_size:
            return map_size
        layers.append(pool)
        return pooled

    def _residual_blocks(self, group: list[int]) -> list[nn.Module]:
        """The convolutions of a group after its first, as residual blocks of two (or three)."""
        k = self.conv_params["kernel_size"]
        rest, blocks, in_channels = group[1:], [], group[0]
        while rest:
            take = 3 if len(rest) == 3 else min(2, len(rest))
            part, rest = rest[:take], rest[take:]
            blocks.append(
                ResidualBlock(
                    in_channels,
                    part,
                    [k] * len(part),
                    batchnorm=True,
                    activation_type=self.activation_type,
                    activation_params=self.activation_params,
                )
            )
            in_channels = part[-1]
        return blocks

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for module in self.modules():
            if isinstance(module, ResidualBlock):
                last = module.main_path[-1]
                nn.init.zeros_(last.weight)
                nn.init.zeros_(last.bias)
