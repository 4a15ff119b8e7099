"""The dataset registry: lookup, lazy built-ins, helpful errors, split aliases, options."""

from __future__ import annotations

import pytest
import torch

from scratchlab.data import (
    LabeledTensorDataset,
    dataset_names,
    dataset_options,
    dataset_splits,
    get_dataset,
    register_dataset,
    registry,
)
from scratchlab.errors import ConfigError, ScratchlabError


@pytest.fixture
def toy():
    """A throw-away dataset registered for one test."""

    @register_dataset("toy", splits=("train", "valid"), aliases={"test": "valid"})
    def build(split, root=None, *, size=3):
        x = torch.arange(size, dtype=torch.float32)[:, None]
        return LabeledTensorDataset(x, torch.zeros(size), ["a"], name=f"toy-{split}-{root}")

    yield build
    registry._REGISTRY.pop("toy", None)


def test_builtin_names_are_known_without_importing():
    assert {"cifar10", "digits", "populations", "edges", "shapes"} <= set(dataset_names())


def test_builtin_splits():
    assert dataset_splits("cifar10") == ("train", "valid", "test")
    assert dataset_splits("digits") == ("train", "valid", "test")
    assert dataset_splits("populations") == ("train", "valid", "test")
    assert dataset_splits("edges") == ("train", "valid", "test")


def test_unknown_name_lists_known_names():
    with pytest.raises(ConfigError) as info:
        get_dataset("mnist", "train")
    assert "mnist" in str(info.value)
    for name in ("cifar10", "digits", "edges", "populations"):
        assert name in str(info.value)


def test_unknown_split_lists_splits():
    with pytest.raises(ConfigError, match=r"no split 'dev'.*train, valid, test"):
        get_dataset("populations", "dev")


def test_unknown_option_is_named_with_accepted_ones():
    with pytest.raises(ConfigError) as info:
        get_dataset("digits", "train", flaten=True)
    message = str(info.value)
    assert "'flaten'" in message and "flatten" in message and "seed" in message
    assert isinstance(info.value, ScratchlabError)


def test_registered_dataset_gets_root_options_and_alias(toy):
    assert "toy" in dataset_names()
    assert dataset_splits("toy") == ("train", "valid", "test")
    assert dataset_options("toy") == ("size",)
    ds = get_dataset("toy", "test", root="here", size=5)
    assert len(ds) == 5 and ds.name == "toy-valid-here"


def test_builder_without_root_is_called_without_it():
    @register_dataset("rootless", splits=("train",))
    def build(split, *, n=2):
        return list(range(n))

    try:
        assert get_dataset("rootless", "train", root="/ignored", n=4) == [0, 1, 2, 3]
    finally:
        registry._REGISTRY.pop("rootless")


def test_alias_must_target_a_split():
    with pytest.raises(ConfigError):
        register_dataset("bad", splits=("train",), aliases={"test": "valid"})


def test_labeled_dataset_contract():
    x = torch.rand(6, 1, 2, 2)
    y = torch.tensor([0, 1, 2, 0, 1, 2], dtype=torch.int32)
    ds = LabeledTensorDataset(x, y, ["a", "b", "c"], name="t", transform=lambda t: t * 2)
    assert isinstance(ds, torch.utils.data.TensorDataset)
    assert ds.tensors[1].dtype == torch.int64
    assert ds.num_classes == 3 and ds.input_shape == (1, 2, 2) and ds.classes == ["a", "b", "c"]
    xi, yi = ds[4]
    assert torch.equal(xi, x[4] * 2) and yi == 1
    moved = ds.to("cpu")
    assert moved is not ds and moved.name == "t" and moved.transform is ds.transform
    assert torch.equal(moved.x, x)
    loader = torch.utils.data.DataLoader(ds, batch_size=4)
    xb, _ = next(iter(loader))
    assert torch.equal(xb, x[:4] * 2)
