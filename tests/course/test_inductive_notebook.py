"""Items 15-18: the inductive-bias notebook's networks, data, edge-detector set-up and names,
called as the notebook calls them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from scratchlab.data import get_dataset
from scratchlab.models import (
    DeeperCNN,
    SimpleCNN,
    SimpleCNN_avgpool,
    ThreeLayerCNN,
    ThreeLayerMLP,
    TwoLayerMLP,
    WiderCNN,
    build_model,
    count_parameters,
    custom_sobel,
    freeze_conv_layer,
    init_conv_kernel_with_edge_detector,
    vis_features,
    vis_images,
    vis_kernels,
    vis_training,
)

X = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def conv_input_sides(model: nn.Module, x: torch.Tensor) -> list[int]:
    sides = []
    hooks = [
        m.register_forward_pre_hook(lambda _m, args: sides.append(args[0].shape[-1]))
        for m in model.modules()
        if isinstance(m, nn.Conv2d)
    ]
    model(x)
    for h in hooks:
        h.remove()
    return sides


# ---------------------------------------------------------------- item 15: the networks
def test_deeper_cnn_is_the_notebooks():
    model = DeeperCNN(input_channel=1, num_filters=3, kernel_size=3, num_classes=5)
    assert count_parameters(model) == 302
    assert conv_input_sides(model, X) == [28, 28, 14, 14]
    assert model(X).shape == (4, 5)
    registry = build_model({"model_type": "deeper_cnn", "kernel_size": 3})
    assert count_parameters(registry) == 302 and conv_input_sides(registry, X) == [28, 28, 14, 14]


def test_wider_cnn_defaults_are_the_notebooks():
    assert count_parameters(WiderCNN(kernel_size=3)) == 425
    assert count_parameters(build_model({"model_type": "wider_cnn", "kernel_size": 3})) == 425


def test_the_mlps_take_the_notebooks_call_forms():
    two = TwoLayerMLP(input_dim=(1, 28, 28), hidden_dim=10, num_classes=3)
    assert two(X).shape == (4, 3) and two.fc1.out_features == 10
    torch.manual_seed(123)
    three = ThreeLayerMLP(hidden_dims=[50, 10], num_classes=5, seed=7)
    torch.manual_seed(7)  # the weights the notebook gets: its seed, then its three layers
    reference = [nn.Linear(784, 50), nn.Linear(50, 10), nn.Linear(10, 5)]
    for ours, theirs in zip((three.fc1, three.fc2, three.fc3), reference, strict=True):
        assert torch.equal(ours.weight, theirs.weight) and torch.equal(ours.bias, theirs.bias)
    assert three(X).shape == (4, 5)


def test_simple_cnn_get_features_lists_the_six_maps():
    model = SimpleCNN(num_filters=3, kernel_size=7, num_classes=3)
    maps = model.get_features(X)
    assert isinstance(maps, list) and len(maps) == 6
    assert [tuple(m.shape[1:]) for m in maps] == [(3, 28, 28)] * 2 + [(3, 14, 14)] * 3 + [(3,)]
    torch.testing.assert_close(model.fc(maps[-1]), model(X))


# ---------------------------------------------------------------- item 16: the data
def notebook_edges(split: str = "train", **kw):
    return get_dataset(
        "edges", split, data_per_class=20, background="flat", quantize=True, shuffle=False, **kw
    )


def test_pixels_are_uint8_levels_and_backgrounds_flat():
    ds = notebook_edges()
    levels = ds.x * 255
    assert torch.equal(levels, levels.round()) and ds.x.max() <= 1
    none = ds.x[ds.y == ds.classes.index("none")].flatten(1)
    assert torch.equal(none.min(dim=1).values, none.max(dim=1).values)  # one value per image
    horizontal = ds.x[ds.y == 0]
    assert all(len(img.unique()) == 2 for img in horizontal)  # background level, edge level


def test_samples_come_in_class_blocks():
    ds = notebook_edges(class_type=["horizontal", "vertical", "none"])
    assert ds.y.tolist() == [0] * 20 + [1] * 20 + [2] * 20


def test_a_students_permutation_array():
    p = np.random.RandomState(0).permutation(784)
    plain, permuted = notebook_edges(seed=3), notebook_edges(seed=3, permutation=p)
    assert torch.equal(permuted.x.flatten(1), plain.x.flatten(1)[:, p])
    assert torch.equal(permuted.unpermute(permuted.x), plain.x)
    with pytest.raises(Exception, match="permutation"):
        notebook_edges(permutation=np.arange(10))


# ---------------------------------------------------------------- item 17: edge-detector set-up
@pytest.mark.parametrize("k", [2, 3, 5, 7])
def test_edge_detector_setup_and_freezing(k):
    torch.manual_seed(0)
    model = SimpleCNN(num_filters=3, kernel_size=k, num_classes=3)
    initial = model.conv1.weight.detach().clone()
    init_conv_kernel_with_edge_detector(model)
    freeze_conv_layer(model)
    w = model.conv1.weight.detach()[:, 0]
    if k == 2:
        torch.testing.assert_close(w[0], torch.tensor([[1.0, 1.0], [-1.0, -1.0]]))
        torch.testing.assert_close(w[1], torch.tensor([[1.0, -1.0], [1.0, -1.0]]))
    elif k == 7:
        rows = w[0].sum(dim=1)
        assert rows.tolist() == [0, 0, 7, -7, 0, 0, 0] and w[0].abs().sum() == 14
        torch.testing.assert_close(w[1], w[0].T)
    else:
        torch.testing.assert_close(w[0], torch.from_numpy(custom_sobel((k, k), 0)))
        torch.testing.assert_close(w[1], torch.from_numpy(custom_sobel((k, k), 1)))
    third = initial[0, 0] if k == 7 else torch.zeros(k, k)
    torch.testing.assert_close(w[2], third)
    torch.testing.assert_close(model.conv2.weight, torch.cat([model.conv1.weight] * 3, dim=1))
    assert torch.count_nonzero(model.conv1.bias) == torch.count_nonzero(model.conv2.bias) == 0
    assert count_parameters(model, only_trainable=True) == 12


def test_custom_sobel_formula_and_the_registry_setup():
    expected = np.array([[-0.5, 0, 0.5], [-1, 0, 1], [-0.5, 0, 0.5]], dtype=np.float32)
    np.testing.assert_allclose(custom_sobel((3, 3), 0), expected)
    np.testing.assert_allclose(custom_sobel((3, 3), 1), expected.T)
    model = build_model({"model_type": "cnn_edge_init", "kernel_size": 7})
    assert count_parameters(model, only_trainable=True) == 12


# ---------------------------------------------------------------- item 18: the other names
def test_three_layer_cnn_and_simple_cnn_avgpool():
    model = ThreeLayerCNN(input_dim=(1, 28, 28), num_filters=8, filter_size=7, num_classes=4)
    assert count_parameters(model) == (8 * 49 + 8) + (16 * 8 * 49 + 16) + (16 * 4 + 4)
    assert model(X).shape == (4, 4)
    avg = SimpleCNN_avgpool(num_filters=3, kernel_size=7, num_classes=3)
    assert isinstance(avg.avgpool, nn.AvgPool2d) and len(avg.get_features(X)) == 6


def test_get_image_statistics():
    ds = notebook_edges()
    mean, std = ds.get_image_statistics()
    assert mean == pytest.approx(float(ds.x.double().mean()))
    assert std == pytest.approx(float(ds.x.double().std(unbiased=False)))


def test_vis_helpers_draw():
    model = SimpleCNN(num_filters=3, kernel_size=7, num_classes=3)
    ds = notebook_edges()
    for fig, _ in (
        vis_images(ds.x[:6], ds.y[:6], ds.classes),
        vis_kernels(model),
        vis_features(model, ds.x[:2]),
        vis_training({"train_loss": [1.0, 0.5], "valid_acc": [40.0, 60.0]}),
    ):
        assert fig.axes
