"""Inductive-bias nets: parameter counts by formula, layer order, padding, edge detectors."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from scratchlab.errors import ConfigError
from scratchlab.models import (
    DeeperCNN,
    SimpleCNN,
    ThreeLayerMLP,
    TwoLayerMLP,
    WiderCNN,
    edge_detector_kernels,
    init_edge_detectors,
    summary,
)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv_net_params(conv_params, linear_params, f, k, classes, convs, c_in=1):
    return conv_params(c_in, f, k) + (convs - 1) * conv_params(f, f, k) + linear_params(f, classes)


def test_simple_cnn_parameter_count(conv_params, linear_params):
    expected = conv_net_params(conv_params, linear_params, 3, 7, 3, 2)
    assert n_params(SimpleCNN(kernel_size=7)) == expected == 606
    assert f"{expected}" in SimpleCNN.__doc__


@pytest.mark.parametrize("k", [3, 7])
def test_wider_and_deeper_counts(conv_params, linear_params, k):
    wider = conv_net_params(conv_params, linear_params, 6, k, 5, 2)
    deeper = conv_net_params(conv_params, linear_params, 3, k, 5, 4)
    assert n_params(WiderCNN(kernel_size=k)) == wider
    assert n_params(DeeperCNN(kernel_size=k)) == deeper


def test_mlp_parameter_counts(linear_params):
    assert n_params(TwoLayerMLP(784, 50)) == linear_params(784, 50) + linear_params(50, 3)
    three = linear_params(784, 50) + linear_params(50, 10) + linear_params(10, 3)
    assert n_params(ThreeLayerMLP(784, (50, 10))) == three == 39_793
    assert ThreeLayerMLP(784, (50, 10))(torch.randn(4, 1, 28, 28)).shape == (4, 3)


@pytest.mark.parametrize("pooling,kind", [("max", nn.MaxPool2d), ("avg", nn.AvgPool2d)])
def test_forward_features_and_pooling(pooling, kind):
    net = SimpleCNN(num_filters=4, kernel_size=7, num_classes=5, pooling=pooling)
    x = torch.randn(2, 1, 28, 28)
    assert net.get_features(x)[-2].shape == (2, 4, 14, 14)
    assert net(x).shape == (2, 5) and net(x[:1]).shape == (1, 5)
    assert isinstance(net.features[2], kind)


def test_deeper_pools_after_its_second_convolution(conv_out):
    net = DeeperCNN(kernel_size=3)
    rows = summary(net, (1, 28, 28)).layers
    seen = [r.out_shape[-1] for r in rows if r.kind == "Conv2d"]
    assert seen == [28, 28, conv_out(28, 2, 2), conv_out(28, 2, 2)]
    assert [type(m) for m in net.features][:5] == [
        nn.Conv2d,
        nn.ReLU,
        nn.Conv2d,
        nn.ReLU,
        nn.MaxPool2d,
    ]


def test_reflect_padding_and_the_notebooks_even_kernel(conv_out):
    torch.manual_seed(0)
    net = SimpleCNN(kernel_size=7).double()
    x = torch.randn(1, 1, 28, 28, dtype=torch.float64)
    manual = F.conv2d(F.pad(x, (3, 3, 3, 3), mode="reflect"), net.conv1.weight, net.conv1.bias)
    torch.testing.assert_close(net.conv1(x), manual)
    side = conv_out(conv_out(conv_out(28, 2), 2, 2), 2)  # k = 2: no padding, as in the notebook
    assert SimpleCNN(kernel_size=2).get_features(x.float())[-2].shape == (1, 3, side, side)
    assert SimpleCNN(kernel_size=2, padding="same").get_features(x.float())[-2].shape[-1] == 14


def test_three_layer_mlp_seed_fixes_weights_and_leaves_the_global_generator():
    torch.manual_seed(0)
    state = torch.get_rng_state()
    a, b = ThreeLayerMLP(seed=3), ThreeLayerMLP(seed=3)
    assert torch.equal(state, torch.get_rng_state())
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(ThreeLayerMLP().fc1.weight, ThreeLayerMLP().fc1.weight)
    with pytest.raises(ConfigError, match="two sizes"):
        ThreeLayerMLP(hidden_dims=[5])


@pytest.mark.parametrize("k", [2, 3, 5, 7])
def test_edge_detectors_respond_to_their_own_edge(k):
    kernels = edge_detector_kernels(k, 4)
    assert kernels.shape == (4, 1, k, k)
    image = torch.zeros(1, 1, 16, 16)
    image[..., 8:, :] = 1.0  # a horizontal edge
    response = F.conv2d(image, kernels).abs().amax(dim=(2, 3)).flatten()
    horizontal, vertical = response[0].item(), response[1].item()
    assert horizontal > 0 and vertical < 1e-5 * horizontal
    transposed = F.conv2d(image.transpose(2, 3), kernels).abs().amax(dim=(2, 3)).flatten()
    assert transposed[1] > 0 and transposed[0] < 1e-5 * transposed[1]


def test_filters_cycle_with_opposite_signs():
    kernels = edge_detector_kernels(3, 10)
    torch.testing.assert_close(kernels[4], -kernels[0])
    torch.testing.assert_close(kernels[8], kernels[0])
    with pytest.raises(ConfigError):
        edge_detector_kernels(1, 3)


def test_init_edge_detectors_freezes_the_first_conv():
    torch.manual_seed(0)
    net = init_edge_detectors(SimpleCNN(kernel_size=7))
    first = net.features[0]
    torch.testing.assert_close(first.weight, edge_detector_kernels(7, 3))
    assert not first.weight.requires_grad and not first.bias.requires_grad
    before = first.weight.clone(), net.features[3].weight.clone()
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1)
    F.cross_entropy(net(torch.randn(4, 1, 28, 28)), torch.tensor([0, 1, 2, 0])).backward()
    opt.step()
    torch.testing.assert_close(first.weight, before[0])
    assert not torch.equal(net.features[3].weight, before[1])
