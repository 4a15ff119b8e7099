"""The edges dataset: balance, location shift on the pixels, permutation, seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchlab.data import get_dataset
from scratchlab.data.edges import EDGE_CLASSES, generate_edges, load_edges
from scratchlab.errors import ConfigError

BG_HIGH = 0.2  # default background_intensity upper bound; edges are at least 0.25


def edge_pixels(x: torch.Tensor) -> torch.Tensor:
    """Boolean (N, H, W) of the pixels brighter than any background pixel."""
    return x[:, 0] > BG_HIGH


def test_defaults():
    ds = get_dataset("edges", "train", data_per_class=20)
    assert ds.classes == ["horizontal", "vertical", "none"]
    assert ds.x.shape == (60, 1, 28, 28) and ds.x.dtype == torch.float32
    assert ds.x.min() >= 0 and ds.x.max() <= 1
    x, y = ds[0]
    assert x.shape == (1, 28, 28) and y.dtype == torch.int64


@pytest.mark.parametrize("split", ["train", "valid", "test"])
def test_class_balance_is_exact(split):
    ds = get_dataset("edges", split, class_type=list(EDGE_CLASSES), data_per_class=37)
    assert torch.bincount(ds.y).tolist() == [37] * len(EDGE_CLASSES)


def test_classes_look_like_their_names():
    ds = get_dataset("edges", "train", class_type=list(EDGE_CLASSES), data_per_class=50)
    edges = edge_pixels(ds.x)
    rows_full = edges.all(dim=2).any(dim=1)  # some row entirely edge
    cols_full = edges.all(dim=1).any(dim=1)
    name = [ds.classes[i] for i in ds.y]
    for i, cls in enumerate(name):
        if cls == "horizontal":
            assert rows_full[i] and not cols_full[i]
        elif cls == "vertical":
            assert cols_full[i] and not rows_full[i]
        elif cls == "both":
            assert rows_full[i] and cols_full[i]
        elif cls == "none":
            assert not edges[i].any()
        else:  # diagonal: edge pixels span several rows and columns but fill neither
            assert edges[i].any() and not rows_full[i] and not cols_full[i]


def test_edge_width_is_within_range():
    ds = get_dataset(
        "edges", "train", class_type=["horizontal"], data_per_class=200, edge_width=(2, 3)
    )
    widths = edge_pixels(ds.x).all(dim=2).sum(dim=1)
    assert widths.min() == 2 and widths.max() == 3


@pytest.mark.parametrize("ratio", [0.5, 0.3])
def test_location_ratio_splits_train_and_valid_on_the_pixels(ratio):
    cut = round(ratio * 28)
    opts = dict(
        class_type=["horizontal", "vertical", "diagonal"],
        data_per_class=100,
        possible_edge_location_ratio=ratio,
    )
    for split, inside in (
        ("train", lambda i: i < cut),
        ("valid", lambda i: i >= cut),
        ("test", lambda i: i >= cut),
    ):
        ds = get_dataset("edges", split, **opts)
        edges = edge_pixels(ds.x)
        rows = torch.arange(28)[None, :, None].expand_as(edges)
        cols = torch.arange(28)[None, None, :].expand_as(edges)
        for label, cls in enumerate(ds.classes):
            e = edges[ds.y == label]
            assert e.flatten(1).any(dim=1).all(), f"{split} {cls}: an image without edge"
            index = (cols if cls == "vertical" else rows)[ds.y == label]
            assert inside(index[e]).all(), f"{split} {cls}: edge outside its region"


def test_too_wide_edges_for_the_region_is_a_config_error():
    with pytest.raises(ConfigError, match="edge_width"):
        get_dataset("edges", "train", edge_width=(1, 6), possible_edge_location_ratio=0.1)
    with pytest.raises(ConfigError, match="class_type"):
        get_dataset("edges", "train", class_type=["circle"])


def test_permutation_and_inverse_restore_every_image():
    plain = get_dataset("edges", "valid", data_per_class=30, seed=3)
    perm = get_dataset("edges", "valid", data_per_class=30, seed=3, permutation=True)
    assert not torch.equal(perm.x, plain.x)
    assert torch.equal(perm.unpermute(perm.x), plain.x)
    assert torch.equal(perm.permutation[perm.inverse_permutation], torch.arange(784))
    flat = perm.x.reshape(len(perm), -1)
    assert torch.equal(flat[:, perm.inverse_permutation], plain.x.reshape(len(plain), -1))
    train = get_dataset("edges", "train", data_per_class=5, seed=3, permutation=True)
    assert torch.equal(train.permutation, perm.permutation)  # one permutation for all splits
    other = get_dataset("edges", "train", data_per_class=5, seed=3, permutation=11)
    assert not torch.equal(other.permutation, perm.permutation)
    assert torch.equal(plain.permutation, torch.arange(784))


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), split=st.sampled_from(["train", "valid", "test"]))
def test_same_seed_same_data_different_seed_differs(seed, split):
    a = generate_edges(split, data_per_class=4, seed=seed)
    b = generate_edges(split, data_per_class=4, seed=seed)
    c = generate_edges(split, data_per_class=4, seed=seed + 1)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_splits_differ():
    train = generate_edges("train", data_per_class=10)[0]
    valid = generate_edges("valid", data_per_class=10)[0]
    assert not torch.equal(train, valid)


def test_ten_thousand_images():
    ds = get_dataset("edges", "train", class_type=list(EDGE_CLASSES), data_per_class=2000)
    assert ds.x.shape == (10_000, 1, 28, 28)


def test_a_dataset_loaded_again_is_equal_and_its_own_copy():
    first = load_edges("train", data_per_class=5, seed=3, edge_width=[1, 2])
    first.tensors[0].fill_(7.0)  # a caller that changes its images in place
    again = load_edges("train", data_per_class=5, seed=3, edge_width=(1, 2))
    fresh = generate_edges("train", data_per_class=5, seed=3, edge_width=(1, 2))
    assert torch.equal(again.tensors[0], fresh[0]) and torch.equal(again.tensors[1], fresh[1])
    odd = load_edges("train", data_per_class=5, seed=3, edge_width=np.array([1, 2]))
    assert torch.equal(odd.tensors[0], fresh[0])  # an unhashable option: generated afresh
