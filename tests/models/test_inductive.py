"""Inductive-bias nets: parameter counts by formula, reflect padding, edge detectors."""

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
)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv_net_params(conv_params, linear_params, f, k, classes, convs, c_in=1):
    return conv_params(c_in, f, k) + (convs - 1) * conv_params(f, f, k) + linear_params(f, classes)


def test_simple_cnn_parameter_count(conv_params, linear_params):
    expected = conv_net_params(conv_params, linear_params, 3, 7, 3, 2)
    assert n_params(SimpleCNN()) == expected == 606


def test_wider_and_deeper_counts_match_their_docstrings(conv_params, linear_params):
    wider = conv_net_params(conv_params, linear_params, 16, 7, 3, 2)
    deeper = conv_net_params(conv_params, linear_params, 3, 7, 3, 4)
    assert n_params(WiderCNN()) == wider and f"{wider:,}" in WiderCNN.__doc__
    assert n_params(DeeperCNN()) == deeper and f"{deeper:,}" in DeeperCNN.__doc__


def test_mlp_parameter_counts(linear_params):
    assert n_params(TwoLayerMLP()) == linear_params(784, 50) + linear_params(50, 3)
    three = linear_params(784, 50) + linear_params(50, 10) + linear_params(10, 3)
    assert n_params(ThreeLayerMLP()) == three == 39_793
    assert ThreeLayerMLP()(torch.randn(4, 1, 28, 28)).shape == (4, 3)


@pytest.mark.parametrize("pooling,kind", [("max", nn.MaxPool2d), ("avg", nn.AvgPool2d)])
def test_forward_features_and_pooling(pooling, kind):
    net = SimpleCNN(num_filters=4, num_classes=5, pooling=pooling)
    x = torch.randn(2, 1, 28, 28)
    assert net.get_features(x).shape == (2, 4, 14, 14)
    assert net(x).shape == (2, 5)
    assert isinstance(net.features[2], kind)


def test_reflect_padding_keeps_size():
    torch.manual_seed(0)
    net = SimpleCNN().double()
    x = torch.randn(1, 1, 28, 28, dtype=torch.float64)
    conv = net.features[0]
    manual = F.conv2d(F.pad(x, (3, 3, 3, 3), mode="reflect"), conv.weight, conv.bias)
    torch.testing.assert_close(conv(x), manual)
    assert SimpleCNN(kernel_size=2).get_features(x.float()).shape == (1, 3, 14, 14)


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
    net = init_edge_detectors(SimpleCNN())
    first = net.features[0]
    torch.testing.assert_close(first.weight, edge_detector_kernels(7, 3))
    assert not first.weight.requires_grad and not first.bias.requires_grad
    before = first.weight.clone(), net.features[3].weight.clone()
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1)
    F.cross_entropy(net(torch.randn(4, 1, 28, 28)), torch.tensor([0, 1, 2, 0])).backward()
    opt.step()
    torch.testing.assert_close(first.weight, before[0])
    assert not torch.equal(net.features[3].weight, before[1])
