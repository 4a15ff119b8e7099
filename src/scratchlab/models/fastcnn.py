"""`FastCNN` (`yourcnn_fast`): the YourCNN variant for fast CIFAR-10 training, after airbench.

The layout follows KellerJordan/cifar10-airbench (airbench94 and airbench96):

- a 2x2 patch-whitening convolution: its weights are fitted once to the training images
  (`init_whiten`) and then frozen, so the first layer decorrelates pixels from the start; its
  bias trains for the first epochs only (`bias_trainable`);
- groups of `pool_every` 3x3 convolutions without bias: conv -> 2x2 max pool -> BatchNorm ->
  activation, then conv -> BatchNorm -> activation for each further conv; a group of three or
  more convs adds a residual over all but its first conv (airbench96); with `fused_norm_gelu`,
  BatchNorm then GELU run as one pair of kernels on a GPU (`fast_norm`);
- every conv starts as (part of) the identity (`identity_init`): the first `in_channels`
  filters are Dirac kernels, so a fresh net passes its input through;
- BatchNorm with its scale frozen at 1 and a trainable shift;
- global max pooling and one Linear layer without bias, scaled by `logit_scale` (its initial
  weights rescaled to `head_init_std` when given, as airbench94_muon does).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from scratchlab.errors import ConfigError, ShapeError
from scratchlab.models.fast_norm import batch_norm_gelu
from scratchlab.models.fast_pool import GlobalMaxPool, MaxPool2x2
from scratchlab.models.layers import (
    check_in_size,
    dry_run,
    make_activation,
    positive_int,
    positive_ints,
)

DEFAULT_CHANNELS = (64, 64, 256, 256, 256, 256)


class WhiteningConv(nn.Conv2d):
    """A `kernel_size` patch-whitening convolution with `2 * C * k * k` outputs (each filter and its
    negative).

    Args:
        in_channels: input channels C.
        kernel_size: patch side k.
        frozen: keep the weights fixed (fitted by `init_whiten`); else they train like any conv.
    """

    def __init__(self, in_channels: int, kernel_size: int = 2, frozen: bool = True) -> None:
        out_channels = 2 * in_channels * kernel_size * kernel_size
        super().__init__(in_channels, out_channels, kernel_size, padding=0, bias=True)
        self.weight.requires_grad_(not frozen)
        self.bias_trainable = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias if self.bias_trainable else self.bias.detach()
        return F.conv2d(x, self.weight, bias)

    @torch.no_grad()
    def init_whiten(self, images: torch.Tensor, eps: float = 5e-4) -> None:
        """Set the filters to the eigenvectors of the patch covariance of `images`, scaled by
        1/sqrt(eigenvalue + eps)."""
        c, (h, w) = self.in_channels, self.kernel_size
        if images.dim() != 4 or images.shape[1] != c:
            raise ShapeError(
                f"whitening needs images (N, {c}, H, W), got shape {tuple(images.shape)}"
            )
        patches = (
            images.float().unfold(2, h, 1).unfold(3, w, 1).transpose(1, 3).reshape(-1, c * h * w)
        )
        covariance = patches.T @ patches / len(patches)
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
        filters = eigenvectors.T.reshape(-1, c, h, w) / torch.sqrt(
            eigenvalues.view(-1, 1, 1, 1) + eps
        )
        self.weight.copy_(torch.cat((filters, -filters)).to(self.weight))


class ConvGroup(nn.Module):
    """conv -> pool -> BN -> act, then (conv -> BN -> act) per further width, residual over those
    when >= 2."""

    def __init__(
        self,
        in_channels: int,
        widths: Sequence[int],
        activation: nn.Module,
        bn_momentum: float,
        bn_eps: float,
        fused_norm_gelu: bool = False,
    ) -> None:
        super().__init__()
        self.fused_norm_gelu = fused_norm_gelu
        channels = [in_channels, *widths]
        self.convs = nn.ModuleList(
            nn.Conv2d(a, b, 3, padding=1, bias=False) for a, b in itertools.pairwise(channels)
        )
        self.norms = nn.ModuleList(_batchnorm(b, bn_momentum, bn_eps) for b in widths)
        self.pool = MaxPool2x2()  # nn.MaxPool2d(2), faster on channels-last CUDA tensors
        self.activation = activation
        self.residual = len(widths) >= 3 and widths[-1] == widths[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._norm_act(0, self.pool(self.convs[0](x)))
        shortcut = x
        last = len(self.convs) - 1
        for i in range(1, len(self.convs)):
            if i == last and self.residual:
                x = self.activation(self.norms[i](self.convs[i](x)) + shortcut)
            else:
                x = self._norm_act(i, self.convs[i](x))
        return x

    def _norm_act(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """norms[i] then the activation (`fused_norm_gelu` and an exact GELU: `batch_norm_gelu`)."""
        act = self.activation
        if self.fused_norm_gelu and isinstance(act, nn.GELU) and act.approximate == "none":
            return batch_norm_gelu(self.norms[i], x)
        return act(self.norms[i](x))


def _batchnorm(channels: int, momentum: float, eps: float) -> nn.BatchNorm2d:
    norm = nn.BatchNorm2d(channels, eps=eps, momentum=momentum)
    norm.weight.requires_grad_(False)
    return norm


class FastCNN(nn.Module):
    """The airbench network as a scratchlab model family (see the module docstring).

    Args:
        in_size: input shape (C, H, W).
        out_classes: number of classes.
        channels: width of every 3x3 conv; split into groups of `pool_every` (one pool each).
            airbench94 is (64,)*2 + (256,)*4 with pool_every 2; airbench96 (128,)*3 + (512,)*6
            with pool_every 3.
        pool_every: convs per group.
        activation_type, activation_params: the activation (airbench: gelu).
        whiten: a frozen patch-whitening first conv (else the same conv, trainable).
        whiten_kernel_size: its patch side.
        identity_init: Dirac-initialise the first `in_channels` filters of every 3x3 conv.
        bn_momentum: BatchNorm running-statistics momentum (torch convention).
        bn_eps: BatchNorm epsilon.
        logit_scale: factor on the head's output.
        head_init_std: standard deviation the head's initial weights are rescaled to (None:
            torch's default initialisation).
        fused_norm_gelu: each BatchNorm and its exact GELU as one pass each way on channels-last
            CUDA tensors (`fast_norm.batch_norm_gelu`; off until timed on a GPU).
    """

    def __init__(
        self,
        in_size: Sequence[int],
        out_classes: int,
        channels: Sequence[int] = DEFAULT_CHANNELS,
        pool_every: int = 2,
        activation_type: str = "gelu",
        activation_params: Mapping[str, Any] | None = None,
        whiten: bool = True,
        whiten_kernel_size: int = 2,
        identity_init: bool = True,
        bn_momentum: float = 0.4,
        bn_eps: float = 1e-12,
        logit_scale: float = 1 / 9,
        head_init_std: float | None = None,
        fused_norm_gelu: bool = False,
    ) -> None:
        super().__init__()
        self.in_size = check_in_size(in_size)
        self.out_classes = positive_int("out_classes", out_classes)
        self.channels = positive_ints("channels", channels, allow_empty=False)
        self.pool_every = positive_int("pool_every", pool_every)
        if not 0 < bn_momentum <= 1:
            raise ConfigError(f"bn_momentum: expected a value in (0, 1], got {bn_momentum!r}")
        self.identity_init = bool(identity_init)
        self.logit_scale = float(logit_scale)
        if head_init_std is not None and not head_init_std > 0:
            raise ConfigError(f"head_init_std: expected a value > 0, got {head_init_std!r}")
        self.head_init_std = head_init_std
        activation = make_activation(activation_type, activation_params)
        self.whiten = WhiteningConv(
            self.in_size[0], positive_int("whiten_kernel_size", whiten_kernel_size), frozen=whiten
        )
        layers: list[nn.Module] = [self.whiten, activation]
        in_channels = self.whiten.out_channels
        for i in range(0, len(self.channels), self.pool_every):
            widths = self.channels[i : i + self.pool_every]
            layers.append(ConvGroup(in_channels, widths, activation, bn_momentum, bn_eps,
                                    bool(fused_norm_gelu)))
            in_channels = widths[-1]
        layers.append(GlobalMaxPool())
        self.features = nn.Sequential(*layers)
        dry_run(self.features, self.in_size)  # a ConfigError when the input is too small
        self.head = nn.Linear(in_channels, self.out_classes, bias=False)
        self.reset()

    @property
    def whitened(self) -> bool:
        """True when the first conv is the frozen whitening layer."""
        return not self.whiten.weight.requires_grad

    def reset(self) -> None:
        """Re-initialise every weight (identity init where asked) and the BatchNorm statistics."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)):
                module.reset_parameters()
            if (
                self.identity_init
                and isinstance(module, nn.Conv2d)
                and not isinstance(module, WhiteningConv)
            ):
                weight = module.weight.data
                nn.init.dirac_(weight[: weight.size(1)])
        if self.head_init_std is not None:
            head = self.head.weight.data
            head.mul_(self.head_init_std / head.std())

    def init_whiten(self, images: torch.Tensor, eps: float = 5e-4) -> None:
        """Fit the whitening conv to `images` (normalised training images); no-op when not
        whitened."""
        if self.whitened:
            self.whiten.init_whiten(images, eps)

    def set_whiten_bias_trainable(self, trainable: bool) -> None:
        """Train (or freeze) the bias of the first conv."""
        self.whiten.bias_trainable = trainable

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores (N, out_classes) for images (N, C, H, W)."""
        if x.dim() != 4 or tuple(x.shape[1:2]) != self.in_size[:1]:
            raise ShapeError(f"FastCNN built for inputs {self.in_size} got {tuple(x.shape[1:])}")
        return self.head(self.features(x)) * self.logit_scale
