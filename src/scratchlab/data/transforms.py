"""Transforms: torchvision's per-image ones, and batch ops for whole tensors on any device.

Per image (for a DataLoader): `ToImage`, `ToTensor`, `ToDtype`, `Normalize`, `RandomCrop`,
`RandomHorizontalFlip`, `Compose`, re-exported from torchvision.

Per batch (N, C, H, W), vectorised and device-agnostic (CPU or CUDA), for device-resident
training: `batch_crop`, `batch_random_crop`, `batch_random_flip`, `flip_mask`,
`batch_alternating_flip`, `batch_cutout`, `normalize`, `channel_stats`, the test-time views
`tta_views`, and `make_augmentation` (named batch augmentations as one transform).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from scratchlab.errors import ConfigError, ShapeError

if TYPE_CHECKING:
    from torchvision.transforms import ToTensor
    from torchvision.transforms.v2 import (
        Compose,
        Normalize,
        RandomCrop,
        RandomHorizontalFlip,
        ToDtype,
        ToImage,
    )

# torchvision's per-image transforms, imported on first use (importing torchvision takes a while)
_TORCHVISION = {"ToTensor": "torchvision.transforms", **dict.fromkeys(
    ("Compose", "Normalize", "RandomCrop", "RandomHorizontalFlip", "ToDtype", "ToImage"),
    "torchvision.transforms.v2")}


def __getattr__(name: str):
    if name in _TORCHVISION:
        import importlib

        return getattr(importlib.import_module(_TORCHVISION[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


def channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of images (N, C, H, W), in [0, 1] units for uint8 input."""
    x = images.float()
    if not images.is_floating_point():
        x = x / 255
    dims = (0, 2, 3)
    return x.mean(dim=dims), x.std(dim=dims).clamp_min(1e-8)


def batch_cutout(x: torch.Tensor, size: int,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero one random `size` x `size` square, lying wholly inside the image, in each image."""
    n, _, h, w = x.shape
    if not 0 < size <= min(h, w):
        raise ConfigError(f"cutout size must be in 1..{min(h, w)}, got {size}")
    device = generator.device if generator is not None else x.device
    top = torch.randint(0, h - size + 1, (n,), generator=generator, device=device).to(x.device)
    left = torch.randint(0, w - size + 1, (n,), generator=generator, device=device).to(x.device)
    rows = torch.arange(h, device=x.device).view(1, h) - top.view(n, 1)
    cols = torch.arange(w, device=x.device).view(1, w) - left.view(n, 1)
    in_rows = ((rows >= 0) & (rows < size)).view(n, 1, h, 1)
    inside = in_rows & ((cols >= 0) & (cols < size)).view(n, 1, 1, w)
    return x.masked_fill(inside, 0)


def tta_views(x: torch.Tensor, level: int) -> list[tuple[float, torch.Tensor]]:
    """Weighted test-time views of a batch; the first is `x` itself, the weights sum to 1.

    Level 0: the image. Level 1: image and mirror, 1/2 each. Level 2 (airbench): mirror pairs of
    the image (weight 1/2) and of its two diagonal one-pixel translations (1/4 each). Every view
    has the memory layout of `x` (a channels-last batch gives channels-last views, so that a
    compiled model sees one layout and cuDNN converts none).
    """
    if level not in (0, 1, 2):
        raise ConfigError(f"tta_level must be 0, 1 or 2, got {level!r}")
    if level == 0:
        return [(1.0, x)]
    views = [x]
    if level == 2:
        n = len(x)
        zeros = torch.zeros(n, dtype=torch.long, device=x.device)
        twos = torch.full((n,), 2, dtype=torch.long, device=x.device)
        views += [batch_crop(x, 1, zeros, zeros), batch_crop(x, 1, twos, twos)]
    weights = [0.25, 0.125, 0.125] if level == 2 else [0.5]
    last = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
    layout = torch.channels_last if last and not x.is_contiguous() else torch.contiguous_format
    out: list[tuple[float, torch.Tensor]] = []
    for weight, view in zip(weights, views, strict=True):
        out += [(weight, view.contiguous(memory_format=layout)),
                (weight, view.flip(-1).contiguous(memory_format=layout))]
    return out


def make_augmentation(names: list[str], generator: torch.Generator | None = None
                      ) -> Callable[[torch.Tensor], torch.Tensor]:
    """A batch transform applying the named augmentations in order (random draws from
    `generator`, default torch's global one)."""
    steps = []
    for name in names:
        if name == "crop":
            steps.append(functools.partial(batch_random_crop, padding=4, generator=generator))
        elif name == "flip":
            steps.append(functools.partial(batch_random_flip, generator=generator))
        else:  # validated by the config; kept for direct callers
            raise ConfigError(f"unknown augmentation {name!r}; use crop or flip")

    def augment(x: torch.Tensor) -> torch.Tensor:
        for step in steps:
            x = step(x)
        return x

    return augment
