"""The Bayes rule of the `populations` data: the best accuracy any classifier can reach on it."""

from __future__ import annotations

import inspect

import numpy as np

from scratchlab.data.populations import load_populations, populations_arrays, rotate_2d


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
