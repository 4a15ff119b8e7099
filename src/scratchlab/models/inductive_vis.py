"""`vis_*` plots of the inductive-bias notebook's kind: images, kernels, feature maps, curves.

Each returns `(fig, axes)`; matplotlib is imported only when one is called.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from scratchlab.errors import ConfigError


def _grid(n: int, ncols: int, size: float = 1.6) -> tuple[Any, Any]:
    from matplotlib import pyplot as plt

    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes


def _show(ax: Any, image: torch.Tensor, title: str | None = None) -> None:
    ax.imshow(image.detach().float().cpu().reshape(image.shape[-2:]).numpy(), cmap="gray")
    if title:
        ax.set_title(title, fontsize=8)


def vis_images(
    images: torch.Tensor,
    labels: Sequence[int] | torch.Tensor | None = None,
    classes: Sequence[str] | None = None,
    ncols: int = 8,
) -> tuple[Any, Any]:
    """Grey images (N, 1, H, W) or (N, H, W) in a grid, titled by label (class name if given)."""
    if images.ndim not in (3, 4):
        raise ConfigError(f"vis_images: images (N, 1, H, W) or (N, H, W), got {images.shape}")
    fig, axes = _grid(len(images), ncols)
    for i, (ax, image) in enumerate(zip(axes.flat, images, strict=False)):
        label = None if labels is None else int(labels[i])
        title = None if label is None else (classes[label] if classes else str(label))
        _show(ax, image, title)
    return fig, axes


def vis_kernels(weights: nn.Module | torch.Tensor, ncols: int = 8) -> tuple[Any, Any]:
    """The kernels of the first Conv2d of a model, or of a weight tensor (C_out, C_in, k, k),
    one panel per (output, input) channel pair."""
    if isinstance(weights, nn.Module):
        conv = next((m for m in weights.modules() if isinstance(m, nn.Conv2d)), None)
        if conv is None:
            raise ConfigError(f"vis_kernels: {type(weights).__name__} has no Conv2d")
        weights = conv.weight
    kernels = weights.detach().reshape(-1, *weights.shape[-2:])
    fig, axes = _grid(len(kernels), ncols)
    for i, (ax, kernel) in enumerate(zip(axes.flat, kernels, strict=False)):
        _show(ax, kernel, f"filter {i}")
    return fig, axes


def vis_features(model: nn.Module, x: torch.Tensor) -> tuple[Any, Any]:
    """Every map of `model.get_features(x)` for the first image of `x`: one row per stage (the
    input first), one column per channel; the pooled vector is drawn as a 1 x C strip."""
    with torch.no_grad():
        maps = [x[:1], *model.get_features(x[:1])]
    ncols = max(m.shape[1] for m in maps)
    fig, axes = _grid(len(maps) * ncols, ncols)
    for row, stage in enumerate(maps):
        for c in range(stage.shape[1] if stage.ndim == 4 else 1):
            image = stage[0, c] if stage.ndim == 4 else stage[0][None]
            title = f"stage {row} ch {c}" if stage.ndim == 4 else f"stage {row}"
            _show(axes[row, c], image, title)
    return fig, axes


def vis_training(results: Mapping[str, Sequence[float]]) -> tuple[Any, Any]:
    """Loss and accuracy curves from a dict with `train_loss`, `valid_loss`, `train_acc` and
    `valid_acc` lists (what the notebook's training returns); missing keys are skipped."""
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for ax, what in zip(axes, ("loss", "acc"), strict=True):
        for split in ("train", "valid"):
            values = results.get(f"{split}_{what}")
            if values is not None:
                ax.plot(range(1, len(values) + 1), list(values), label=split)
        ax.set(xlabel="epoch", ylabel="accuracy (%)" if what == "acc" else "loss")
        ax.legend()
    return fig, axes
