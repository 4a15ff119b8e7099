"""Transforms: torchvision's per-image ones, and batch ops for whole tensors on any device.

Per image (for a DataLoader): `ToImage`, `ToTensor`, `ToDtype`, `Normalize`, `RandomCrop`,
`RandomHorizontalFlip`, `Compose`, re-exported from torchvision.

Per batch (N, C, H, W), vectorised and device-agnostic (CPU or CUDA), for device-resident
training: `batch_crop`, `batch_random_crop`, `batch_random_flip`, `flip_mask`,
`batch_alternating_flip`, `normalize`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torchvision.transforms import ToTensor
from torchvision.transforms.v2 import (
    Compose,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    ToDtype,
    ToImage,
)

from scratchlab.errors import ConfigError, ShapeError

__all__ = [
    "Compose",
    "Normalize",
    "RandomCrop",
    "RandomHorizontalFlip",
    "ToDtype",
    "ToImage",
    "ToTensor",
    "batch_alternating_flip",
    "batch_crop",
    "batch_random_crop",
    "batch_random_flip",
    "flip_mask",
    "normalize",
]

PAD_MODES = ("reflect", "zeros")


def _check_batch(x: torch.Tensor) -> None:
    if x.dim() != 4:
        raise ShapeError(f"expected a batch of images (N, C, H, W), got shape {tuple(x.shape)}")


def _rand(n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """n uniform numbers in [0, 1) from `generator` (on its own device), moved to `device`."""
    gen_device = generator.device if generator is not None else device
    return torch.rand(n, generator=generator, device=gen_device).to(device)


def batch_crop(
    x: torch.Tensor, padding: int, dy: torch.Tensor, dx: torch.Tensor, mode: str = "reflect"
) -> torch.Tensor:
    """Pad each image by `padding` and cut the HxW window at offset (dy[i], dx[i]) in [0, 2p].

    An offset of (padding, padding) returns the image unchanged.
    """
    _check_batch(x)
    if mode not in PAD_MODES:
        raise ConfigError(f"padding mode must be one of {', '.join(PAD_MODES)}, got {mode!r}")
    n, c, h, w = x.shape
    if padding == 0:
        return x.clone()
    pad_mode = "reflect" if mode == "reflect" else "constant"
    src = x if x.is_floating_point() or pad_mode == "constant" else x.float()
    padded = F.pad(src, (padding,) * 4, mode=pad_mode).to(x.dtype)
    rows = dy.to(x.device).long()[:, None] + torch.arange(h, device=x.device)
    cols = dx.to(x.device).long()[:, None] + torch.arange(w, device=x.device)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chan = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]


def batch_random_crop(
    x: torch.Tensor, padding: int, generator: torch.Generator | None = None, mode: str = "reflect"
) -> torch.Tensor:
    """Random translation of each image by up to `padding` pixels (pad with reflect or zeros)."""
    _check_batch(x)
    span = 2 * padding + 1
    dy = (_rand(len(x), generator, x.device) * span).long().clamp_(max=2 * padding)
    dx = (_rand(len(x), generator, x.device) * span).long().clamp_(max=2 * padding)
    return batch_crop(x, padding, dy, dx, mode)


def _flip_where(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.where(mask.to(x.device).view(-1, 1, 1, 1), x.flip(-1), x)


def batch_random_flip(
    x: torch.Tensor, generator: torch.Generator | None = None, p: float = 0.5
) -> torch.Tensor:
    """Flip each image left-right with probability `p`."""
    _check_batch(x)
    return _flip_where(x, _rand(len(x), generator, x.device) < p)


def flip_mask(
    n: int, generator: torch.Generator | None = None, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """A random boolean mask of length `n` with (about) half of it True: the `base_mask` below."""
    return _rand(n, generator, torch.device(device)) < 0.5


def batch_alternating_flip(x: torch.Tensor, epoch: int, base_mask: torch.Tensor) -> torch.Tensor:
    """Derandomised flips: images in `base_mask` flipped on even epochs, the others on odd ones.

    Over any two consecutive epochs every image is seen once flipped and once not.
    """
    _check_batch(x)
    if base_mask.shape != (len(x),):
        raise ShapeError(f"base_mask has shape {tuple(base_mask.shape)}, expected ({len(x)},)")
    mask = base_mask.bool()
    return _flip_where(x, mask if epoch % 2 == 0 else ~mask)


def normalize(
    x: torch.Tensor, mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor
) -> torch.Tensor:
    """(x - mean) / std per channel; uint8 input is first scaled to [0, 1] floats.

    Works on (C, H, W) and (N, C, H, W); the result is float32 unless `x` is another float type.
    """
    if not x.is_floating_point():
        x = x.float().div_(255)
    mean_t = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    std_t = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    if mean_t.shape[0] not in (1, x.shape[-3]):
        raise ShapeError(f"mean/std have {mean_t.shape[0]} channels, images have {x.shape[-3]}")
    return (x - mean_t) / std_t
