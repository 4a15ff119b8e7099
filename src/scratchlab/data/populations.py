"""Populations (`populations`): a 2-D binary problem made of rotated two-moons sub-populations.

The examples are not i.i.d.: each split mixes (or is drawn from) populations rotated by
different angles, so train, valid and test follow measurably different distributions.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from numbers import Integral

import numpy as np
import torch

from scratchlab.data.base import LabeledTensorDataset
from scratchlab.data.registry import register_dataset
from scratchlab.errors import ConfigError


def rotate_2d(x: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate points (N, 2) counter-clockwise about the origin by `degrees`."""
    t = np.deg2rad(degrees)
    rotation = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return x @ rotation.T


def moons_population(
    n: int, noise: float, degrees: float, rng: np.random.RandomState
) -> tuple[np.ndarray, np.ndarray]:
    """`n` two-moons samples with Gaussian `noise` drawn from `rng`, rotated by `degrees`."""
    from sklearn.datasets import make_moons

    x, y = make_moons(n, noise=noise, random_state=rng)
    return rotate_2d(x, degrees), y.astype(np.int64)


def populations_arrays(
    sizes: Sequence[int] = (4000, 4000),
    noises: Sequence[float] = (0.2, 0.25),
    angles: Sequence[float] = (10.0, 50.0),
    test_size: int = 2000,
    test_noise: float = 0.3,
    test_angle: float = 40.0,
    train_fraction: float = 2 / 3,
    seed: int = 0,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Train, valid and test arrays: x (N, 2) float32, y (N,) int64, by the course's procedure.

    One numpy generator seeded with `seed` (the draws of `np.random.seed(seed)`, without touching
    the global generator) draws the populations of `sizes`, `noises` and `angles` in that order,
    then the test population. Train and valid are the first ones concatenated and cut (without
    shuffling) at `train_fraction`; test is the last one.
    """
    if not (len(sizes) == len(noises) == len(angles)) or not sizes:
        raise ConfigError(
            "populations: sizes, noises and angles must be non-empty and of one length"
        )
    counts = [*sizes, test_size]
    if any(isinstance(n, bool) or not isinstance(n, Integral) or n < 1 for n in counts):
        raise ConfigError(f"populations: sizes and test_size must be positive integers, got "
                          f"sizes {list(sizes)} and test_size {test_size!r}")
    if not 0 < train_fraction < 1:
        raise ConfigError(f"populations: train_fraction must be in (0, 1), got {train_fraction}")
    rng = np.random.RandomState(seed)
    parts = [moons_population(n, s, a, rng) for n, s, a in zip(sizes, noises, angles, strict=True)]
    x = np.concatenate([p[0] for p in parts]).astype(np.float32)
    y = np.concatenate([p[1] for p in parts])
    cut = round(len(x) * train_fraction)
    x_te, y_te = moons_population(test_size, test_noise, test_angle, rng)
    return {
        "train": (x[:cut], y[:cut]),
        "valid": (x[cut:], y[cut:]),
        "test": (x_te.astype(np.float32), y_te),
    }


@register_dataset("populations", splits=("train", "valid", "test"))
def load_populations(
    split: str = "train",
    *,
    sizes: Sequence[int] = (4000, 4000),
    noises: Sequence[float] = (0.2, 0.25),
    angles: Sequence[float] = (10.0, 50.0),
    test_size: int = 2000,
    test_noise: float = 0.3,
    test_angle: float = 40.0,
    train_fraction: float = 2 / 3,
    seed: int = 0,
    device: str | torch.device | None = None,
    transform=None,
) -> LabeledTensorDataset:
    """The multi-population binary dataset: points x (N, 2), labels y in {0, 1}.

    Process: every population is scikit-learn's `make_moons(n, noise)` (two interleaved half
    circles, one per class, plus Gaussian noise), rotated about the origin by its own angle.
    By default train and valid come from ``make_moons(4000, noise=0.2)`` rotated 10 degrees
    followed by ``make_moons(4000, noise=0.25)`` rotated 50 degrees; the first 2/3 (5,333
    points) are train and the rest valid, WITHOUT shuffling, so train holds all of the
    10-degree population and a third of the 50-degree one while valid is all 50-degree points.
    Test is ``make_moons(2000, noise=0.3)`` rotated 40 degrees: a population seen in neither.

    Why a linear model fails: each class is a curved arc and the arcs interlock (each moon's tips
    reach into the other's concavity), so no straight line separates them; a logistic
    regression stays well below what a small MLP reaches. The rotations add a distribution
    shift between splits that no model can fully undo from the training data alone.

    Args:
        split: ``"train"``, ``"valid"`` or ``"test"``.
        sizes, noises, angles: Size, noise and rotation (degrees) of each train/valid population.
        test_size, test_noise, test_angle: The same for the test population.
        train_fraction: Share of the concatenated populations that goes to train.
        seed: Seeds the one numpy generator that draws every population, in the order above (the
            course seeds numpy's global generator with it; the global generator is left alone).
        device: Put the tensors on this device.
        transform: Applied to each point in `__getitem__`.
    """
    x, y = populations_arrays(
        sizes, noises, angles, test_size, test_noise, test_angle, train_fraction, seed
    )[split]
    ds = LabeledTensorDataset(
        torch.from_numpy(x),
        torch.from_numpy(y),
        ["0", "1"],
        name="populations",
        transform=transform,
    )
    return ds.to(device) if device is not None else ds


def moons_bayes_accuracy(x: np.ndarray, y: np.ndarray, noise: float, degrees: float,
                         arc_points: int = 2000) -> float:
    """Accuracy (percent) on (x, y) of the Bayes rule for two-moons data rotated by `degrees`:
    a class density is a mean of Gaussians along its arc; the denser class wins (equal priors)."""
    t = np.linspace(0, np.pi, arc_points)
    arcs = [np.stack([np.cos(t), np.sin(t)], 1), np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)]
    density = [
        np.exp(-((x[:, None, :] - rotate_2d(arc, degrees)[None]) ** 2).sum(-1)
               / (2 * noise**2)).mean(1)
        for arc in arcs
    ]
    return 100.0 * float(((density[1] > density[0]).astype(int) == y).mean())


def bayes_test_accuracy() -> float:
    """Test accuracy (percent) of the Bayes rule of the test population."""
    defaults = {k: p.default for k, p in inspect.signature(load_populations).parameters.items()}
    x, y = populations_arrays()["test"]
    return moons_bayes_accuracy(x, y, defaults["test_noise"], defaults["test_angle"])
