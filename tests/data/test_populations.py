"""The populations dataset: not linearly separable, and its splits differ in distribution."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from scratchlab.data import get_dataset
from scratchlab.data.populations import populations_arrays, rotate_2d


def test_default_sizes_and_order():
    train, valid, test = (get_dataset("populations", s) for s in ("train", "valid", "test"))
    assert (len(train), len(valid), len(test)) == (5333, 2667, 2000)
    assert train.input_shape == (2,) and train.num_classes == 2
    assert torch.bincount(test.y).tolist() == [1000, 1000]


def test_split_is_a_cut_without_shuffling():
    arrays = populations_arrays(sizes=(30, 30), noises=(0.0, 0.0), angles=(0, 90), seed=1)
    x = np.concatenate([arrays["train"][0], arrays["valid"][0]])
    y = np.concatenate([arrays["train"][1], arrays["valid"][1]])
    assert len(arrays["train"][0]) == 40 and len(x) == 60
    # Without noise, class 1 of make_moons lies on the unit circle around (1, 0.5), which the
    # 90-degree rotation moves to (-0.5, 1): the first 30 points are the unrotated population.
    centre = np.where(np.arange(60)[:, None] < 30, [1.0, 0.5], [-0.5, 1.0])
    radius = np.linalg.norm(x - centre, axis=1)
    assert np.allclose(radius[y == 1], 1.0, atol=1e-5)


def test_rotation():
    x = np.array([[1.0, 0.0], [0.0, 2.0]])
    assert np.allclose(rotate_2d(x, 90), [[0.0, 1.0], [-2.0, 0.0]])


def test_linear_model_scores_clearly_below_an_mlp():
    train = get_dataset("populations", "train", seed=0)
    x, y = train.x.numpy(), train.y.numpy()
    linear = LogisticRegression().fit(x, y).score(x, y)
    mlp = MLPClassifier((32, 32), max_iter=150, random_state=0).fit(x, y).score(x, y)
    assert mlp > linear + 0.08, (linear, mlp)


def test_train_and_test_distributions_differ():
    train = get_dataset("populations", "train").x.numpy()
    test = get_dataset("populations", "test").x.numpy()
    angle_train = np.arctan2(train[:, 1], train[:, 0])
    angle_test = np.arctan2(test[:, 1], test[:, 0])
    assert ks_2samp(angle_train, angle_test).pvalue < 1e-6
    # valid (mostly the 50-degree population) differs from train as well
    valid = get_dataset("populations", "valid").x.numpy()
    assert ks_2samp(train[:, 0], valid[:, 0]).pvalue < 1e-6


def test_seed_reproducible_and_options_checked():
    a = get_dataset("populations", "test", seed=3).x
    assert torch.equal(a, get_dataset("populations", "test", seed=3).x)
    assert not torch.equal(a, get_dataset("populations", "test", seed=4).x)
    with pytest.raises(Exception, match="one length"):
        get_dataset("populations", "train", sizes=(10,), noises=(0.1, 0.2), angles=(0,))
