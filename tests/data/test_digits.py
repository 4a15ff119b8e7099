"""The 8x8 digits: standardisation, binary labels, seeded split."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from scratchlab.data import get_dataset


def test_train_split_is_standardised():
    ds = get_dataset("digits", "train", flatten=True)
    x = ds.x.double()
    std = x.std(dim=0, unbiased=False)
    used = std > 0
    assert ds.x.shape[1] == 64 and used.sum() > 50
    assert torch.allclose(x.mean(dim=0), torch.zeros(64, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(std[used], torch.ones(int(used.sum()), dtype=torch.float64), atol=1e-5)


def test_split_sizes_shapes_and_test_alias():
    train = get_dataset("digits", "train")
    valid = get_dataset("digits", "valid")
    test = get_dataset("digits", "test")
    assert len(train) + len(valid) == 1797 and abs(len(train) - len(valid)) <= 1
    assert train.input_shape == (1, 8, 8) and train.num_classes == 10
    assert torch.equal(valid.x, test.x) and torch.equal(valid.y, test.y)


def true_digits(valid: torch.Tensor, train: torch.Tensor) -> list[set[int]]:
    """The digits of the raw images behind standardised `valid` rows.

    Train and valid together are all 1,797 raw images, so the per-feature scale and shift follow
    from the raw data and the standardised data alone, without knowing the split.
    """
    bunch = load_digits()
    raw = bunch.data
    z_all = torch.cat([train, valid]).double().numpy()
    z_std = z_all.std(0)
    used = raw.std(0) > 0
    scale = np.where(used, raw.std(0) / np.where(z_std > 0, z_std, 1), 0)
    shift = raw.mean(0) - scale * z_all.mean(0)
    back = np.rint(valid.double().numpy() * scale + shift).astype(int)
    lookup: dict[bytes, set[int]] = {}
    for row, digit in zip(raw.astype(int), bunch.target, strict=True):
        lookup.setdefault(row.tobytes(), set()).add(int(digit))
    return [lookup.get(r.tobytes(), set()) for r in back]


def test_binary_labels_follow_the_digit():
    multi = get_dataset("digits", "valid", flatten=True)
    binary = get_dataset("digits", "valid", flatten=True, task="binary")
    train = get_dataset("digits", "train", flatten=True, task="binary")
    assert torch.equal(multi.x, binary.x)
    assert binary.classes == ["0-4", "5-9"]
    digits = true_digits(binary.x, train.x)
    assert all(digits), "every valid image is one of the raw images"
    for found, label, multi_label in zip(digits, binary.y.tolist(), multi.y.tolist(), strict=True):
        assert multi_label in found
        assert any(label == int(d >= 5) for d in found)
    counts = np.bincount(multi.y.numpy(), minlength=10)
    assert np.abs(counts - np.bincount(load_digits().target, minlength=10) / 2).max() <= 1


def test_same_seed_same_split_other_seed_differs():
    a = get_dataset("digits", "train", seed=5)
    b = get_dataset("digits", "train", seed=5)
    c = get_dataset("digits", "train", seed=6)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, c.x)


def test_unknown_task():
    with pytest.raises(Exception, match="task"):
        get_dataset("digits", "train", task="ternary")
