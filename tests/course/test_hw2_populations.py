"""Item 14: `get_dataset("populations", seed=...)` gives the course's points for that seed.

The course's procedure, spelled out in the issue: numpy's global generator seeded; three
`make_moons` populations in this order (4000 points, noise 0.2, rotated 10 degrees; 4000, 0.25,
50 degrees; 2000, 0.3, 40 degrees); train/valid = the first 8000 split 2/3 : 1/3 without
shuffling; test = the last 2000.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split

from scratchlab.data import get_dataset


def rotate(x: np.ndarray, degrees: float) -> np.ndarray:
    a = np.deg2rad(degrees)
    return x @ np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]).T


def course_populations(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    saved = np.random.get_state()
    np.random.seed(seed)
    x1, y1 = make_moons(n_samples=4000, noise=0.2)
    x2, y2 = make_moons(n_samples=4000, noise=0.25)
    x3, y3 = make_moons(n_samples=2000, noise=0.3)
    x = np.vstack([rotate(x1, 10), rotate(x2, 50), rotate(x3, 40)])
    y = np.hstack([y1, y2, y3])
    x_tr, x_va, y_tr, y_va = train_test_split(x[:8000], y[:8000], test_size=1 / 3, shuffle=False)
    np.random.set_state(saved)
    return {"train": (x_tr, y_tr), "valid": (x_va, y_va), "test": (x[8000:], y[8000:])}


@pytest.mark.parametrize("seed", [42, 7])
def test_same_points_as_the_course_for_the_same_seed(seed):
    state = np.random.get_state()
    ours = {s: get_dataset("populations", s, seed=seed) for s in ("train", "valid", "test")}
    assert np.random.get_state()[1].tolist() == state[1].tolist()  # global generator untouched
    course = course_populations(seed)
    assert [len(ours[s]) for s in ("train", "valid", "test")] == [5333, 2667, 2000]
    for split, (x, y) in course.items():
        np.testing.assert_array_equal(ours[split].x.numpy(), x.astype(np.float32))
        np.testing.assert_array_equal(ours[split].y.numpy(), y)
