"""Small nets for the inductive-bias study on 28x28 grey edge images (3 or 5 classes)."""

from __future__ import annotations

from collections.abc import Sequence
from math import comb

import torch
from torch import nn

from scratchlab.errors import ConfigError
from scratchlab.models.layers import make_pool, positive_int
from scratchlab.models.mlp import MLP


def reflect_conv(in_channels: int, out_channels: int, kernel_size: int) -> nn.Conv2d:
    """A convolution with reflect padding that keeps the map size (even kernels pad right/bottom)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding="same", padding_mode="reflect")


class SimpleCNN(nn.Module):
    """conv -> relu -> pool(2) -> conv -> relu [-> conv -> relu ...] -> global avg pool -> Linear.

    Every convolution has `num_filters` filters of size `kernel_size`, with reflect padding that
    keeps the map size. With the defaults it has 606 parameters.

    Args:
        num_filters: filters per convolution.
        kernel_size: side of every kernel.
        num_classes: output scores.
        pooling: `max` or `avg`, for the pool after the first convolution.
        in_channels: input channels.
        num_convs: number of convolutions (at least 2).
    """

    def __init__(
        self,
        num_filters: int = 3,
        kernel_size: int = 7,
        num_classes: int = 3,
        pooling: str = "max",
        in_channels: int = 1,
        num_convs: int = 2,
    ) -> None:
        super().__init__()
        num_filters = positive_int("num_filters", num_filters)
        kernel_size = positive_int("kernel_size", kernel_size)
        if positive_int("num_convs", num_convs) < 2:
            raise ConfigError(f"num_convs: at least 2 convolutions, got {num_convs}")
        layers: list[nn.Module] = [
            reflect_conv(positive_int("in_channels", in_channels), num_filters, kernel_size),
            nn.ReLU(),
            make_pool(pooling, {"kernel_size": 2}),
        ]
        for _ in range(num_convs - 1):
            layers += [reflect_conv(num_filters, num_filters, kernel_size), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(num_filters, positive_int("num_classes", num_classes))

    def get_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last convolution's feature maps (N, num_filters, H/2, W/2), before global pooling."""
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores (N, num_classes)."""
        return self.classifier(self.pool(self.get_features(x)).flatten(1))


class WiderCNN(SimpleCNN):
    """`SimpleCNN` with more filters: 16 per convolution by default (13,411 parameters)."""

    def __init__(
        self,
        num_filters: int = 16,
        kernel_size: int = 7,
        num_classes: int = 3,
        pooling: str = "max",
        in_channels: int = 1,
    ) -> None:
        super().__init__(num_filters, kernel_size, num_classes, pooling, in_channels)


class DeeperCNN(SimpleCNN):
    """`SimpleCNN` with more layers: 4 convolutions of 3 filters by default (1,494 parameters)."""

    def __init__(
        self,
        num_filters: int = 3,
        kernel_size: int = 7,
        num_classes: int = 3,
        pooling: str = "max",
        in_channels: int = 1,
        num_convs: int = 4,
    ) -> None:
        super().__init__(num_filters, kernel_size, num_classes, pooling, in_channels, num_convs)


class TwoLayerMLP(MLP):
    """in_features -> hidden -> relu -> num_classes; flattens its input."""

    def __init__(self, in_features: int = 784, hidden: int = 50, num_classes: int = 3) -> None:
        super().__init__(in_features, [hidden, num_classes], ["relu", "none"])


class ThreeLayerMLP(MLP):
    """in_features -> hidden[0] -> relu -> hidden[1] -> relu -> num_classes; flattens its input."""

    def __init__(
        self, in_features: int = 784, hidden: Sequence[int] = (50, 10), num_classes: int = 3
    ) -> None:
        if len(hidden) != 2:
            raise ConfigError(f"hidden: ThreeLayerMLP takes two hidden sizes, got {hidden!r}")
        super().__init__(in_features, [*hidden, num_classes], ["relu", "relu", "none"])


_EXPLICIT_KERNELS: dict[int, list[list[list[float]]]] = {
    # horizontal, vertical, diagonal, anti-diagonal edges
    2: [[[1, 1], [-1, -1]], [[1, -1], [1, -1]], [[0, 1], [-1, 0]], [[1, 0], [0, -1]]],
    7: [
        [[1.0] * 7] * 3 + [[0.0] * 7] + [[-1.0] * 7] * 3,
        [[1.0] * 3 + [0.0] + [-1.0] * 3] * 7,
        [[float((j > i) - (j < i)) for j in range(7)] for i in range(7)],
        [[float((i + j < 6) - (i + j > 6)) for j in range(7)] for i in range(7)],
    ],
}


def _sobel_like(k: int) -> torch.Tensor:
    """Horizontal, vertical, diagonal and anti-diagonal Sobel-like kernels of side k, (4, k, k)."""
    smooth = torch.tensor([comb(k - 1, i) for i in range(k)], dtype=torch.float32)
    centre = (k - 1) / 2
    deriv = torch.tensor([centre - i for i in range(k)], dtype=torch.float32)
    horizontal = torch.outer(deriv, smooth)
    i, j = torch.meshgrid(torch.arange(k), torch.arange(k), indexing="ij")
    diagonal = (j - i).float()
    anti = (2 * centre - i - j).float()
    return torch.stack([horizontal, horizontal.T, diagonal, anti])


def edge_detector_kernels(kernel_size: int, num_filters: int) -> torch.Tensor:
    """Edge detectors of shape (num_filters, 1, k, k), each scaled to a max |weight| of 1.

    The filters cycle through horizontal, vertical, diagonal and anti-diagonal edges, then the
    same with the opposite sign, and so on. 2x2 and 7x7 kernels are written out; other sizes are
    Sobel-like (derivative across the edge times binomial smoothing along it).
    """
    k = positive_int("kernel_size", kernel_size)
    n = positive_int("num_filters", num_filters)
    if k == 1:
        raise ConfigError("kernel_size: an edge detector needs a kernel of at least 2x2")
    if k in _EXPLICIT_KERNELS:
        base = torch.tensor(_EXPLICIT_KERNELS[k], dtype=torch.float32)
    else:
        base = _sobel_like(k)
    base = base / base.flatten(1).abs().amax(dim=1).view(-1, 1, 1)
    bank = torch.cat([base, -base])
    return bank[torch.arange(n) % len(bank)].unsqueeze(1).clone()


def init_edge_detectors(model: nn.Module, freeze: bool = True) -> nn.Module:
    """Put edge detectors in the first Conv2d of `model` (bias 0), frozen unless `freeze` is False.

    With several input channels, each channel gets the kernel divided by the channel count.
    """
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is None:
        raise ConfigError(f"{type(model).__name__} has no Conv2d to hold edge detectors")
    kh, kw = conv.kernel_size
    if kh != kw:
        raise ConfigError(f"edge detectors need a square kernel, got {conv.kernel_size}")
    per_group = conv.in_channels // conv.groups
    kernels = edge_detector_kernels(kh, conv.out_channels)
    weight = kernels.expand(-1, per_group, -1, -1) / per_group
    with torch.no_grad():
        conv.weight.copy_(weight)
        if conv.bias is not None:
            conv.bias.zero_()
    for param in conv.parameters():
        param.requires_grad_(not freeze)
    return model
