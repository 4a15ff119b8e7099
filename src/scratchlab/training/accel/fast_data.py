"""Device-resident data for the fast trainer: whole-epoch GPU augmentation and test-time views.

`FastLoader` keeps a split normalised on its device and, for training, builds each epoch's
augmented copy in a few whole-tensor ops (flip, translate, cutout) before slicing batches from
it, as airbench does: no DataLoader, no per-image Python work, no host sync.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch

from scratchlab.data.transforms import (
    batch_alternating_flip,
    batch_cutout,
    batch_random_crop,
    batch_random_flip,
    flip_mask,
    normalize,
)
from scratchlab.errors import ConfigError, ShapeError

FLIPS = ("none", "random", "alternating")


class FastLoader:
    """Batches `[x, y]` of a split held on its device, normalised once.

    Args:
        images: (N, C, H, W), uint8 (0..255) or float (0..1); the device they are on is used.
        labels: (N,) class indices.
        batch_size: images per batch.
        mean, std: per-channel statistics (in [0, 1] units) to normalise with.
        train: shuffle, drop the last partial batch and augment every epoch.
        translate: random translation by up to this many pixels (reflect padding).
        flip: `none`, `random` (each image, each epoch) or `alternating` (a random half of the
            images flipped on even epochs, the other half on odd ones).
        cutout: side of a zeroed random square (0: off).
        seed: seed of the loader's own generator (on the data's device).
        dtype: dtype to keep the normalised images in (default float32).
        channels_last: keep the images in channels-last memory format.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, *,
                 mean: Any, std: Any, train: bool = False, translate: int = 0, flip: str = "none",
                 cutout: int = 0, seed: int = 0, dtype: torch.dtype | None = None,
                 channels_last: bool = False) -> None:
        if images.dim() != 4 or len(images) != len(labels):
            raise ShapeError("FastLoader needs images (N, C, H, W) and N labels, got "
                             f"{tuple(images.shape)} and {tuple(labels.shape)}")
        if flip not in FLIPS:
            raise ConfigError(f"flip must be one of {', '.join(FLIPS)}, got {flip!r}")
        if batch_size < 1 or translate < 0 or cutout < 0:
            raise ConfigError("batch_size must be >= 1 and translate, cutout >= 0; got "
                              f"{batch_size}, {translate}, {cutout}")
        self.device = images.device
        x = normalize(images, mean, std).to(dtype or torch.float32)
        self.images = x.contiguous(memory_format=torch.channels_last) if channels_last else x
        self.labels = labels.to(self.device)
        self.batch_size, self.train = batch_size, train
        self.translate, self.flip, self.cutout = translate, flip, cutout
        self.generator = torch.Generator(device=self.device)
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        """Start afresh from `seed`: new generator state, new alternating-flip halves, epoch 0."""
        self.generator.manual_seed(seed)
        self.base_mask = (flip_mask(self.dataset_size, self.generator, self.device)
                          if self.flip == "alternating" else None)
        self.epoch = 0

    @property
    def dataset_size(self) -> int:
        return len(self.labels)

    def __len__(self) -> int:
        n = self.dataset_size / self.batch_size
        return math.floor(n) if self.train else math.ceil(n)

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next iteration serves (it decides the alternating flip)."""
        self.epoch = epoch

    def epoch_images(self, epoch: int) -> torch.Tensor:
        """All images as augmented for `epoch` (the plain normalised images when not training)."""
        x = self.images
        if not self.train:
            return x
        if self.flip == "alternating":
            x = batch_alternating_flip(x, epoch, self.base_mask)
        elif self.flip == "random":
            x = batch_random_flip(x, self.generator)
        if self.translate > 0:
            x = batch_random_crop(x, self.translate, self.generator, mode="reflect")
        if self.cutout > 0:
            x = batch_cutout(x, self.cutout, self.generator)
        return x

    def __iter__(self) -> Iterator[list[torch.Tensor]]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        images = self.epoch_images(epoch)
        n = self.dataset_size
        order = (torch.randperm(n, generator=self.generator, device=self.device) if self.train
                 else None)
        for i in range(len(self)):
            lo, hi = i * self.batch_size, min((i + 1) * self.batch_size, n)
            index = slice(lo, hi) if order is None else order[lo:hi]
            yield [images[index], self.labels[index]]

    def head(self, n: int) -> torch.Tensor:
        """The first `n` normalised, unaugmented images (e.g. to fit the whitening layer)."""
        return self.images[:n]

    def state_dict(self) -> dict[str, Any]:
        """The generator state and the next epoch (for exact resume)."""
        return {"generator": self.generator.get_state(), "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.epoch = state["epoch"]
