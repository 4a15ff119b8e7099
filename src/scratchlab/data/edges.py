"""Edges (`edges`): 28x28 grey images of straight edges, for studying the inductive bias of CNNs.

Each image is a background (per-pixel noise, or one flat level as in the course's notebook) with
(except class ``none``) one or two straight bright bands. Options control the bands' width,
brightness and where they may lie, so that train and valid/test can differ by a controlled shift;
a fixed pixel permutation removes spatial structure for comparisons between convolutional and
fully connected models.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from numbers import Integral
from typing import Any

import numpy as np
import torch

from scratchlab.data.base import LabeledTensorDataset
from scratchlab.data.registry import register_dataset
from scratchlab.errors import ConfigError

EDGE_CLASSES = ("horizontal", "vertical", "diagonal", "both", "none")
DIAGONAL_ANGLES = (30.0, 45.0, 120.0, 135.0)
SPLITS = ("train", "valid", "test")
BACKGROUNDS = ("noise", "flat")


class EdgesDataset(LabeledTensorDataset):
    """A `LabeledTensorDataset` that knows the pixel permutation applied to its images."""

    def __init__(self, x, y, classes, permutation: torch.Tensor, transform=None) -> None:
        super().__init__(x, y, classes, name="edges", transform=transform)
        self.permutation = permutation
        self.inverse_permutation = torch.argsort(permutation)

    def unpermute(self, x: torch.Tensor) -> torch.Tensor:
        """Undo the pixel permutation on images (..., 1, H, W) or flat vectors (..., H*W)."""
        pixels = self.permutation.numel()
        flat = x.reshape(-1, pixels)
        return flat[:, self.inverse_permutation.to(x.device)].reshape(x.shape)

    def get_image_statistics(self) -> tuple[float, float]:
        """(mean, std) over every pixel value of the split, as the course's notebook reports."""
        x = self.x.double()
        return float(x.mean()), float(x.std(unbiased=False))


def _uniform(g: torch.Generator, n: int, bounds: Sequence[float]) -> torch.Tensor:
    lo, hi = bounds
    return lo + (hi - lo) * torch.rand(n, generator=g)


def _band(
    g: torch.Generator, n: int, size: int, width: torch.Tensor, region: tuple[int, int]
) -> torch.Tensor:
    """(n, size) masks of bands of `width` whose first and last index lie within `region`."""
    lo, hi = region
    room = (hi - lo - width + 1).clamp(min=1)
    start = lo + (torch.rand(n, generator=g) * room).long()
    idx = torch.arange(size)
    return (idx >= start[:, None]) & (idx < (start + width)[:, None])


def _diagonal(
    g: torch.Generator, n: int, size: int, width: torch.Tensor, region: tuple[int, int]
) -> torch.Tensor:
    """(n, size, size) masks of lines at DIAGONAL_ANGLES through a random point of `region` rows."""
    lo, hi = region
    angle = torch.tensor(DIAGONAL_ANGLES)[torch.randint(len(DIAGONAL_ANGLES), (n,), generator=g)]
    theta = torch.deg2rad(angle)[:, None, None]
    px = (torch.rand(n, generator=g) * size)[:, None, None]
    py = (lo + torch.rand(n, generator=g) * (hi - lo))[:, None, None]
    centres = torch.arange(size, dtype=torch.float32) + 0.5
    ys, xs = centres[None, :, None], centres[None, None, :]
    # Angle counter-clockwise from horizontal with rows growing downwards: direction (cos, -sin).
    distance = ((xs - px) * torch.sin(theta) + (ys - py) * torch.cos(theta)).abs()
    rows = torch.arange(size)[None, :, None]
    return (distance <= width[:, None, None] / 2) & (rows >= lo) & (rows < hi)


def _edge_masks(g, kind: str, n: int, size: int, width, rows, cols) -> torch.Tensor:
    """(n, size, size) boolean masks of the edge pixels of class `kind`."""
    if kind == "horizontal":
        return _band(g, n, size, width, rows)[:, :, None].expand(n, size, size)
    if kind == "vertical":
        return _band(g, n, size, width, cols)[:, None, :].expand(n, size, size)
    if kind == "both":
        h = _band(g, n, size, width, rows)[:, :, None]
        v = _band(g, n, size, width, cols)[:, None, :]
        return h | v
    if kind == "diagonal":
        return _diagonal(g, n, size, width, rows)
    return torch.zeros(n, size, size, dtype=torch.bool)


def edge_regions(split: str, size: int, ratio: float | None) -> tuple[int, int]:
    """Index range [lo, hi) in which the split's edges may lie (rows for horizontal/diagonal,
    columns for vertical): the first `round(ratio * size)` for train, the rest otherwise."""
    if ratio is None:
        return 0, size
    if not 0 < ratio < 1:
        raise ConfigError(f"possible_edge_location_ratio must be in (0, 1) or None, got {ratio}")
    cut = round(ratio * size)
    return (0, cut) if split == "train" else (cut, size)


def _split_generator(seed: int, split: str) -> torch.Generator:
    state = np.random.SeedSequence([seed, SPLITS.index(split)]).generate_state(1)
    return torch.Generator().manual_seed(int(state[0]))


def make_permutation(permutation: Any, seed: int, pixels: int) -> torch.Tensor:
    """The pixel permutation: identity for False/None, seeded by `seed` for True, by an int, or
    given as an index array (the course's `permutater`) of the `pixels` positions."""
    if permutation is False or permutation is None:
        return torch.arange(pixels)
    if permutation is True or isinstance(permutation, int | np.integer):
        perm_seed = seed if permutation is True else int(permutation)
        return torch.randperm(pixels, generator=torch.Generator().manual_seed(perm_seed))
    perm = torch.as_tensor(np.asarray(permutation)).long().flatten()
    if not torch.equal(torch.sort(perm).values, torch.arange(pixels)):
        raise ConfigError(
            f"edges: permutation must be an index array holding each of 0..{pixels - 1} once "
            f"(got {perm.numel()} entries); pass True, an int seed or a permutation of the pixels"
        )
    return perm


def _check(class_type, edge_width, region, size, background: str) -> None:
    if background not in BACKGROUNDS:
        raise ConfigError(f"edges: background must be one of {BACKGROUNDS}, got {background!r}")
    unknown = [c for c in class_type if c not in EDGE_CLASSES]
    if unknown or not class_type:
        raise ConfigError(
            f"edges: unknown class_type {unknown}; choose from {', '.join(EDGE_CLASSES)}"
        )
    lo, hi = region
    if not 1 <= edge_width[0] <= edge_width[1] or edge_width[1] > hi - lo:
        raise ConfigError(
            f"edges: edge_width {tuple(edge_width)} must be >= 1 and fit the {hi - lo}-pixel "
            f"band where edges may lie in a {size}x{size} image; lower the width or change the "
            "ratio"
        )


def generate_edges(
    split: str = "train",
    class_type: Sequence[str] = ("horizontal", "vertical", "none"),
    data_per_class: int = 1000,
    edge_width: Sequence[int] = (1, 4),
    edge_intensity: Sequence[float] = (0.25, 1.0),
    background_intensity: Sequence[float] = (0.0, 0.2),
    possible_edge_location_ratio: float | None = None,
    seed: int = 0,
    size: int = 28,
    background: str = "noise",
    quantize: bool = False,
    shuffle: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 1, size, size) float32 in [0, 1] and labels (N,), N = classes x per class.

    Shuffled, or in class blocks (labels 0...0, 1...1, ...) with ``shuffle=False``.
    """
    class_type = [class_type] if isinstance(class_type, str) else list(class_type)
    if isinstance(data_per_class, bool) or not isinstance(data_per_class, Integral) or \
            data_per_class < 1:
        raise ConfigError(f"edges: data_per_class must be a positive integer, got "
                          f"{data_per_class!r}")
    region = edge_regions(split, size, possible_edge_location_ratio)
    _check(class_type, edge_width, region, size, background)
    g = _split_generator(seed, split)
    n, total = data_per_class, data_per_class * len(class_type)
    masks = []
    for kind in class_type:
        width = torch.randint(int(edge_width[0]), int(edge_width[1]) + 1, (n,), generator=g)
        masks.append(_edge_masks(g, kind, n, size, width, region, region))
    lo, hi = background_intensity
    if background == "flat":
        x = _uniform(g, total, background_intensity)[:, None, None].expand(total, size, size)
    else:
        x = torch.rand(total, size, size, generator=g).mul_(hi - lo).add_(lo)
    level = _uniform(g, total, edge_intensity)[:, None, None]
    x = torch.where(torch.cat(masks), level, x).clamp_(0, 1).unsqueeze(1)
    if quantize:  # the notebook stores uint8 (truncating) and ToTensor divides by 255
        x = torch.floor(x * 255) / 255
    y = torch.arange(len(class_type)).repeat_interleave(n)
    if not shuffle:
        return x.contiguous(), y
    order = torch.randperm(total, generator=g)
    return x[order].contiguous(), y[order]


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


@functools.lru_cache(maxsize=64, typed=True)
def _generated(*args: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """`generate_edges(*args)`, kept for the next dataset of the same images (a study loads one
    seed's images for each of its models and learning rates; at most 64 sets of a few MB)."""
    return generate_edges(*args)


@register_dataset("edges", splits=SPLITS)
def load_edges(
    split: str = "train",
    *,
    class_type: Sequence[str] = ("horizontal", "vertical", "none"),
    data_per_class: int = 1000,
    edge_width: Sequence[int] = (1, 4),
    edge_intensity: Sequence[float] = (0.25, 1.0),
    background_intensity: Sequence[float] = (0.0, 0.2),
    possible_edge_location_ratio: float | None = None,
    permutation: Any = False,
    seed: int = 0,
    size: int = 28,
    background: str = "noise",
    quantize: bool = False,
    shuffle: bool = True,
    device: str | torch.device | None = None,
    transform=None,
) -> EdgesDataset:
    """The edge-detection dataset: items (image 1x28x28 in [0, 1], label).

    Every pixel is background noise drawn uniformly from `background_intensity` (with
    ``background="flat"``, as in the course's notebook, one level per image); the edge pixels
    are then set to one brightness per image drawn uniformly from `edge_intensity`. Edge widths
    are integers drawn uniformly from `edge_width` (inclusive). Classes, labelled in the order of
    `class_type`:

    - ``horizontal``: a band of `width` full rows; ``vertical``: a band of full columns.
    - ``diagonal``: a line at 30, 45, 120 or 135 degrees (counter-clockwise from horizontal)
      through a random point; a pixel belongs to it when its centre is within width/2 of the line.
    - ``both``: a horizontal and a vertical band of the same width; ``none``: background only.

    Location shift: with ``possible_edge_location_ratio=r``, let ``cut = round(r * 28)``. In the
    train split every edge pixel lies in rows ``< cut`` (horizontal, diagonal; diagonal lines are
    clipped to those rows) or columns ``< cut`` (vertical; for ``both`` each band in its own
    range); in valid and test every edge pixel lies in rows (columns) ``>= cut``. None (default)
    lets edges lie anywhere in every split.

    Args:
        split: ``"train"``, ``"valid"`` or ``"test"``; each has its own random stream derived
            from `seed`.
        class_type: The classes to generate, from horizontal, vertical, diagonal, both, none.
        data_per_class: Images per class (classes are exactly balanced).
        edge_width, edge_intensity, background_intensity: (low, high) ranges, see above.
        possible_edge_location_ratio: See above.
        permutation: False, True (a pixel permutation seeded by `seed`), an int seed, or an index
            array of the size*size pixels (the notebook's `permutater`). The same permutation is
            applied to every image of every split; see `.permutation`, `.inverse_permutation`
            and `.unpermute(x)`.
        seed: Seed of the whole dataset.
        size: Image side in pixels.
        background: ``"noise"`` (per pixel) or ``"flat"`` (one level per image, the notebook's).
        quantize: Round every value down to a uint8 level k/255, as the notebook's images are.
        shuffle: Shuffle the examples; False keeps class blocks in `class_type` order (the
            notebook's order).
        device: Put the tensors on this device.
        transform: Applied to each image in `__getitem__`.
    """
    args = (split, class_type, data_per_class, edge_width, edge_intensity, background_intensity,
            possible_edge_location_ratio, seed, size, background, quantize, shuffle)
    key = tuple(map(_hashable, args))
    try:
        hash(key)
    except TypeError:  # an option of an unusual type: generated afresh
        x, y = generate_edges(*args)
    else:
        x, y = (t.clone() for t in _generated(*key))  # the kept images stay as generated
    perm = make_permutation(permutation, seed, size * size)
    if permutation is not False and permutation is not None:
        x = x.reshape(len(x), -1)[:, perm].reshape(x.shape)
    classes = [class_type] if isinstance(class_type, str) else list(class_type)
    ds = EdgesDataset(x, y, classes, perm, transform=transform)
    return ds.to(device) if device is not None else ds
