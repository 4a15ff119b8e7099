"""Probes of a CNN's internals: its first layer's kernels and their smoothness and, for an
`EdgeCNN` (SimpleCNN, WiderCNN, DeeperCNN), the output of each ReLU layer: dead channels,
spread across images and the gradient reaching each convolution."""

from __future__ import annotations

import torch
from torch import nn


def first_conv_weights(model: nn.Module) -> torch.Tensor:
    """The weights (out, in, k, k) of the model's first Conv2d, detached, on the CPU."""
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d)).weight.detach().cpu()


def neighbour_correlation(weights: torch.Tensor) -> float:
    """Correlation of adjacent kernel weights (about 0 if unstructured, near 1 if smooth)."""
    w = weights.detach().float()
    a = torch.cat([w[..., :, :-1].flatten(), w[..., :-1, :].flatten()])
    b = torch.cat([w[..., :, 1:].flatten(), w[..., 1:, :].flatten()])
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


def relu_outputs(model: nn.Module, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The output of every ReLU of an EdgeCNN's `features` on `x`, and the model's scores."""
    *maps, pooled = model.get_features(x)
    outputs = [out for out, m in zip(maps, model.features, strict=True) if isinstance(m, nn.ReLU)]
    return outputs, getattr(model, model.fc_name)(pooled)


def dead(output: torch.Tensor) -> torch.Tensor:
    """Per channel of a ReLU output (N, C, H, W): whether it is zero on every image and pixel."""
    return output.detach().amax(dim=(0, 2, 3)) <= 0


def layer_stats(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[dict[str, float]]:
    """Per ReLU layer of an EdgeCNN on images `x` with labels `y`: the fraction of dead channels,
    the output's std across images, its convolution's gradient norm (cross-entropy loss) and
    whether the scores are the same for every image."""
    model.zero_grad()
    outputs, scores = relu_outputs(model, x)
    nn.functional.cross_entropy(scores, y).backward()
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    constant = float(scores.detach().std(dim=0).max()) < 1e-6
    return [{"dead": float(dead(out).float().mean()),
             "spread": float(out.detach().std(dim=0).mean()),
             "grad": float(conv.weight.grad.norm()), "constant": constant}
            for out, conv in zip(outputs, convs, strict=True)]


@torch.no_grad()
def dead_channels(model: nn.Module, x: torch.Tensor) -> str:
    """Dead channels of each ReLU layer of an EdgeCNN on `x`, as text: '0/3 1/3 3/3'."""
    return " ".join(f"{int(dead(out).sum())}/{out.shape[1]}" for out in relu_outputs(model, x)[0])
