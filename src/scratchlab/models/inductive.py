"""The inductive-bias notebook's nets on 28x28 grey edge images, as the notebook defines them.

Attribute and parameter names follow the notebook (`conv1`, `conv2`, ..., `maxpool`, `fc` or
`fc1`), so its state dicts load and its helpers find the layers. `features` is the convolutional
part in execution order and `get_features(x)` lists every intermediate map.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from scratchlab.errors import ConfigError
from scratchlab.models.edge_init import init_edge_detectors
from scratchlab.models.layers import make_pool, positive_int, positive_ints
from scratchlab.models.stacked import grouped_conv2d, models_into_channels, stacked_linear
from scratchlab.models.tiny_conv import pool_kind
from scratchlab.models.tiny_head import pooled_linear

__all__ = [
    "DeeperCNN",
    "EdgeCNN",
    "SimpleCNN",
    "SimpleCNN_avgpool",
    "ThreeLayerCNN",
    "ThreeLayerMLP",
    "TwoLayerMLP",
    "WiderCNN",
    "init_edge_detectors",
    "reflect_conv",
]

Padding = int | str | None


def reflect_conv(
    in_channels: int, out_channels: int, kernel_size: int, padding: Padding = None
) -> nn.Conv2d:
    """A convolution with reflect padding: (k - 1) // 2 per side when `padding` is None (the
    notebook's; an even kernel shrinks the map by one), "same" to keep the size, or an int."""
    pad = (kernel_size - 1) // 2 if padding is None else padding
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=pad, padding_mode="reflect")


class EdgeCNN(nn.Module):
    """`num_convs` convolutions of `num_filters` filters, each followed by a ReLU, one 2x2 pool
    after convolution `pool_after`, global average pooling and one Linear layer."""

    fc_name = "fc"

    def __init__(
        self,
        in_channels: int,
        num_filters: int,
        kernel_size: int,
        num_classes: int,
        num_convs: int = 2,
        pool_after: int = 1,
        pooling: str = "max",
        padding: Padding = None,
    ) -> None:
        super().__init__()
        self.num_filters = self.num_filter = positive_int("num_filters", num_filters)
        self.kernel_size = positive_int("kernel_size", kernel_size)
        if positive_int("num_convs", num_convs) < max(2, pool_after):
            raise ConfigError(f"num_convs: at least {max(2, pool_after)}, got {num_convs}")
        self._order: list[str] = []
        channels = positive_int("in_channels", in_channels)
        for i in range(1, num_convs + 1):
            self._add(f"conv{i}", reflect_conv(channels, num_filters, kernel_size, padding))
            self._add(f"relu{i}", nn.ReLU())
            if i == pool_after:
                self._add(f"{pooling}pool", make_pool(pooling, {"kernel_size": 2}))
            channels = num_filters
        self.gap = nn.AdaptiveAvgPool2d(1)
        classes = positive_int("num_classes", num_classes)
        setattr(self, self.fc_name, nn.Linear(num_filters, classes))

    def _add(self, name: str, module: nn.Module) -> None:
        self.add_module(name, module)
        self._order.append(name)

    @property
    def features(self) -> nn.Sequential:
        """The convolutions, ReLUs and pool, in the order the forward pass applies them."""
        return nn.Sequential(*(getattr(self, name) for name in self._order))

    def get_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every intermediate map in order (conv1, relu, pool, conv2, relu, ... for SimpleCNN),
        then the global average (N, num_filters): six tensors for SimpleCNN, as in the notebook."""
        maps = []
        for name in self._order:
            x = getattr(self, name)(x)
            maps.append(x)
        return [*maps, self.gap(x).flatten(1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores (N, num_classes); a batch of one stays (1, num_classes)."""
        for name in self._order:
            x = getattr(self, name)(x)
        return getattr(self, self.fc_name)(self.gap(x).flatten(1))

    def forward_stacked(self, params: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """N models of this architecture at once: `params` stacked `(N, ...)` under their
        `state_dict` names, `x` `(N, B, C, H, W)` each model's inputs; scores `(N, B,
        num_classes)`, what `forward` gives model by model. The models stay side by side in the
        channels (`models.stacked`): one grouped convolution per layer, no transposes."""
        maps = models_into_channels(x)
        layers = [getattr(self, name) for name in self._order]
        done = 0  # layers applied, a convolution with the ReLU and pool after it at once
        for i, (name, layer) in enumerate(zip(self._order, layers, strict=True)):
            if i < done:
                continue
            done = i + 1
            if not isinstance(layer, nn.Conv2d):  # ReLU and pools act on each channel alone
                maps = layer(maps)
                continue
            relu = done < len(layers) and isinstance(layers[done], nn.ReLU)
            done += relu
            pool = pool_kind(layers[done]) if relu and done < len(layers) else None
            done += pool is not None
            maps = grouped_conv2d(layer, params[f"{name}.weight"], params.get(f"{name}.bias"),
                                  maps, relu=relu, pool=pool)
        fc = self.fc_name  # global average pool and linear layer at once
        return pooled_linear(maps, params[f"{fc}.weight"], params.get(f"{fc}.bias"))


class SimpleCNN(EdgeCNN):
    """conv1 -> relu -> 2x2 pool -> conv2 -> relu -> global average pool -> fc (the notebook's).

    `SimpleCNN(num_filters=3, kernel_size=2, num_classes=3)` are the notebook's defaults; with
    kernel_size=7 it has 606 parameters. `pooling`, `in_channels`, `num_convs` (more
    convolutions after the pool) and `padding` (see `reflect_conv`) are scratchlab's options.
    """

    def __init__(
        self,
        num_filters: int = 3,
        kernel_size: int = 2,
        num_classes: int = 3,
        pooling: str = "max",
        in_channels: int = 1,
        num_convs: int = 2,
        padding: Padding = None,
    ) -> None:
        super().__init__(
            in_channels, num_filters, kernel_size, num_classes, num_convs, 1, pooling, padding
        )


class SimpleCNN_avgpool(SimpleCNN):
    """`SimpleCNN` with 2x2 average pooling (its pool is `avgpool`); the notebook's name."""

    def __init__(
        self,
        num_filters: int = 3,
        kernel_size: int = 2,
        num_classes: int = 3,
        in_channels: int = 1,
        padding: Padding = None,
    ) -> None:
        super().__init__(num_filters, kernel_size, num_classes, "avg", in_channels, 2, padding)


class WiderCNN(EdgeCNN):
    """SimpleCNN's layout with 6 filters and 5 classes by default (425 parameters at kernel 3)."""

    def __init__(
        self,
        input_channel: int = 1,
        num_filters: int = 6,
        kernel_size: int = 7,
        num_classes: int = 5,
        pooling: str = "max",
        padding: Padding = None,
    ) -> None:
        super().__init__(
            input_channel, num_filters, kernel_size, num_classes, 2, 1, pooling, padding
        )


class DeeperCNN(EdgeCNN):
    """conv1, conv2, 2x2 pool, conv3, conv4 (each with a ReLU), global average pool, fc1.

    The pool follows the second convolution, so at 28x28 the convolutions see 28, 28, 14 and 14
    pixels; 302 parameters at kernel 3 with the defaults. `num_convs` adds convolutions after
    the pool.
    """

    fc_name = "fc1"

    def __init__(
        self,
        input_channel: int = 1,
        num_filters: int = 3,
        kernel_size: int = 7,
        num_classes: int = 5,
        pooling: str = "max",
        padding: Padding = None,
        num_convs: int = 4,
    ) -> None:
        super().__init__(
            input_channel, num_filters, kernel_size, num_classes, num_convs, 2, pooling, padding
        )


class ThreeLayerCNN(nn.Module):
    """The notebook's ThreeLayerCNN: conv1 -> relu -> conv2 (2x the filters) -> relu -> global
    average pool -> fc1, zero padding (k - 1) // 2. `hidden_dim` and `max_pool` exist but are
    unused, as in the notebook."""

    def __init__(
        self,
        input_dim: Sequence[int] = (1, 28, 28),
        num_filters: int = 64,
        filter_size: int = 7,
        hidden_dim: int = 100,
        num_classes: int = 4,
    ) -> None:
        super().__init__()
        c = positive_ints("input_dim", input_dim, allow_empty=False)[0]
        pad = (filter_size - 1) // 2
        self.conv1 = nn.Conv2d(c, num_filters, filter_size, stride=1, padding=pad)
        self.max_pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(num_filters, num_filters * 2, filter_size, padding=pad)
        self.fc1 = nn.Linear(num_filters * 2, num_classes)
        self.hidden_dim = hidden_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores (N, num_classes)."""
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.fc1(x.mean(dim=(2, 3)))


def _in_features(input_dim: int | Sequence[int]) -> int:
    return math.prod(positive_ints("input_dim", input_dim, allow_empty=False))


class TwoLayerMLP(nn.Module):
    """fc1 -> relu -> fc2 on flattened inputs; `input_dim` is (C, H, W) or a feature count."""

    def __init__(
        self,
        input_dim: int | Sequence[int] = (1, 28, 28),
        hidden_dim: int = 10,
        num_classes: int = 3,
    ) -> None:
        super().__init__()
        self.fc1 = nn.Linear(_in_features(input_dim), positive_int("hidden_dim", hidden_dim))
        self.fc2 = nn.Linear(hidden_dim, positive_int("num_classes", num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores (N, num_classes)."""
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


class ThreeLayerMLP(nn.Module):
    """fc1 -> relu -> fc2 -> relu -> fc3 on flattened inputs.

    With `seed` the initial weights are those the notebook gets after `torch.manual_seed(seed)`,
    whatever the global generator, which is left untouched; with None (the default, where the
    notebook's is 7) they come from the global generator, so that seeded runs differ.
    """

    def __init__(
        self,
        input_dim: int | Sequence[int] = (1, 28, 28),
        hidden_dims: Sequence[int] = (10, 10),
        num_classes: int = 3,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        hidden = positive_ints("hidden_dims", hidden_dims)
        if len(hidden) != 2:
            raise ConfigError(f"hidden_dims: ThreeLayerMLP takes two sizes, got {hidden_dims!r}")
        with contextlib.nullcontext() if seed is None else torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.random.default_generator.manual_seed(seed)
            self.fc1 = nn.Linear(_in_features(input_dim), hidden[0])
            self.fc2 = nn.Linear(hidden[0], hidden[1])
            self.fc3 = nn.Linear(hidden[1], positive_int("num_classes", num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores (N, num_classes)."""
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x.flatten(1))))))

    def forward_stacked(self, params: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """N models at once (as `EdgeCNN.forward_stacked`): `x` `(N, B, ...)`, scores `(N, B,
        num_classes)`; one batched matrix product per layer."""
        h = x.flatten(2)
        for name in ("fc1", "fc2", "fc3"):
            if name != "fc1":
                h = torch.relu(h)
            h = stacked_linear(h, params[f"{name}.weight"], params.get(f"{name}.bias"))
        return h
