"""Edge-detector initialisation: the inductive-bias notebook's set-up and scratchlab's own bank.

The notebook's: `custom_sobel`, `init_conv_kernel_with_edge_detector` (conv1 = horizontal,
vertical and a third filter; conv2 = conv1's kernels stacked three times; zero biases),
`freeze_conv_layer` (every convolution) and `count_parameters`. scratchlab's:
`edge_detector_kernels` and `init_edge_detectors` (any number of filters, first conv only).
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb

import numpy as np
import torch
from torch import nn

from scratchlab.errors import ConfigError
from scratchlab.models.layers import positive_int


def count_parameters(model: nn.Module, only_trainable: bool = False) -> int:
    """Number of parameters of `model` (only those that require grad with `only_trainable`)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not only_trainable)


def freeze_conv_layer(model: nn.Module) -> nn.Module:
    """Stop the gradient of every convolution's weight and bias (the notebook's helper)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            for param in module.parameters():
                param.requires_grad_(False)
    return model


def custom_sobel(shape: int | Sequence[int], axis: int) -> np.ndarray:
    """The notebook's Sobel-like kernel of odd `shape`: entry (j, i) at offset (dj, di) from the
    centre is (di if axis == 0 else dj) / (di² + dj²), the centre 0; float32."""
    h, w = (shape, shape) if isinstance(shape, int) else tuple(shape)
    if h % 2 == 0 or w % 2 == 0 or axis not in (0, 1):
        raise ConfigError(f"custom_sobel: an odd shape and axis 0 or 1, got {shape!r}, {axis!r}")
    dj, di = np.meshgrid(np.arange(h) - h // 2, np.arange(w) - w // 2, indexing="ij")
    norm = np.where(di**2 + dj**2 == 0, 1, di**2 + dj**2)
    return ((di if axis == 0 else dj) / norm).astype(np.float32)


def _notebook_kernels(conv: nn.Conv2d) -> torch.Tensor:
    """The notebook's three first-layer kernels (3, k, k) for the square kernel of `conv`."""
    k = conv.kernel_size[0]
    if k == 2:
        return torch.tensor([[[1, 1], [-1, -1]], [[1, -1], [1, -1]], [[0, 0], [0, 0]]]).float()
    if k == 7:  # one row of +1 over one row of -1; the third is filter 0's initial kernel
        horizontal = torch.zeros(7, 7)
        horizontal[2], horizontal[3] = 1.0, -1.0
        return torch.stack([horizontal, horizontal.T, conv.weight.detach()[0, 0].float()])
    zeros = np.zeros((k, k), dtype=np.float32)
    return torch.from_numpy(np.stack([custom_sobel(k, 0), custom_sobel(k, 1), zeros]))


def init_conv_kernel_with_edge_detector(model: nn.Module) -> nn.Module:
    """The notebook's edge-detector set-up of a SimpleCNN with 3 filters on one input channel.

    conv1 gets a horizontal and a vertical detector and a third filter: zeros for 2x2, 3x3 and
    5x5 (`custom_sobel(k, 0)` and `custom_sobel(k, 1)` are the detectors there), filter 0's
    initial kernel for 7x7; conv2 gets conv1's kernels stacked three times along its input
    channels; both biases are zero. Nothing is frozen (see `freeze_conv_layer`).
    """
    conv1, conv2 = getattr(model, "conv1", None), getattr(model, "conv2", None)
    if not isinstance(conv1, nn.Conv2d) or not isinstance(conv2, nn.Conv2d):
        raise ConfigError(f"{type(model).__name__} needs conv1 and conv2 (a SimpleCNN)")
    if conv1.weight.shape[:2] != (3, 1) or conv2.weight.shape[:2] != (3, 3):
        raise ConfigError(
            f"the edge-detector set-up needs 3 filters on one input channel, got conv1 "
            f"{tuple(conv1.weight.shape)} and conv2 {tuple(conv2.weight.shape)}"
        )
    if conv1.kernel_size[0] != conv1.kernel_size[1]:
        raise ConfigError(f"edge detectors need a square kernel, got {conv1.kernel_size}")
    kernels = _notebook_kernels(conv1).unsqueeze(1)
    with torch.no_grad():
        conv1.weight.copy_(kernels)
        conv2.weight.copy_(torch.cat([kernels] * 3, dim=1))
        for conv in (conv1, conv2):
            if conv.bias is not None:
                conv.bias.zero_()
    return model


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
    """scratchlab's edge detectors (num_filters, 1, k, k), each scaled to a max |weight| of 1.

    The filters cycle through horizontal, vertical, diagonal and anti-diagonal edges, then the
    same with the opposite sign, and so on. 2x2 and 7x7 kernels are written out (the 7x7 ones
    three rows of +1 over three of -1); other sizes are Sobel-like (derivative across the edge
    times binomial smoothing along it).
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
    """Put `edge_detector_kernels` in the first Conv2d of `model` (bias 0), frozen unless
    `freeze` is False. With several input channels, each gets the kernel / channel count."""
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
