"""Residual blocks and ResNet: structure, residual arithmetic, parameter counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from scratchlab.errors import ConfigError
from scratchlab.models import ResidualBlock, ResidualBottleneckBlock, ResNet, summary


def test_residual_block_structure():
    block = ResidualBlock(3, [6, 4] * 2, [3, 5] * 2, batchnorm=True, dropout=0.2)
    kinds = [type(m) for m in block.main_path]
    assert len(block.main_path) == 13
    assert kinds == [nn.Conv2d, nn.Dropout2d, nn.BatchNorm2d, nn.ReLU] * 3 + [nn.Conv2d]
    convs = [m for m in block.main_path if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size[0], c.padding[0]) for c in convs] == [
        (6, 3, 1), (4, 5, 2), (6, 3, 1), (4, 5, 2),
    ]  # fmt: skip
    assert str(block.shortcut_path) == str(nn.Conv2d(3, 4, 1, bias=False))
    assert block(torch.randn(2, 3, 9, 9)).shape == (2, 4, 9, 9)


def test_block_output_is_relu_of_main_plus_shortcut():
    torch.manual_seed(0)
    block = ResidualBlock(4, [5, 4], [3, 3], activation_type="tanh").double()
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64)
    conv1, _, conv2 = block.main_path
    expected = torch.relu(conv2(torch.tanh(conv1(x))) + x)
    assert isinstance(block.shortcut_path, nn.Identity)
    torch.testing.assert_close(block(x), expected)


def test_even_kernels_are_rejected():
    with pytest.raises(ConfigError, match="odd"):
        ResidualBlock(3, [4], [2])


def test_bottleneck_keeps_shape_and_projects():
    block = ResidualBottleneckBlock(256, [64, 32, 64], [3, 5, 3])
    x = torch.randn(1, 256, 32, 32)
    assert block(x).shape == (1, 256, 32, 32)
    convs = [m for m in block.main_path if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0]) for c in convs] == [
        (256, 64, 1), (64, 64, 3), (64, 32, 5), (32, 64, 3), (64, 256, 1),
    ]  # fmt: skip
    assert isinstance(block.shortcut_path, nn.Identity)


def test_parameter_counts_match_formula(conv_params):
    regular = ResidualBlock(256, [256, 256], [3, 3])
    bottleneck = ResidualBottleneckBlock(256, [64], [3])
    expected_regular = 2 * conv_params(256, 256, 3)
    expected_bottleneck = conv_params(256, 64, 1) + conv_params(64, 64, 3) + conv_params(64, 256, 1)
    assert summary(regular, (256, 8, 8)).params == expected_regular == 1_180_160
    assert summary(bottleneck, (256, 8, 8)).params == expected_bottleneck == 70_016


def test_resnet_first_head_layer():
    net = ResNet(
        in_size=(3, 100, 100), out_classes=10, channels=[32, 64] * 3, pool_every=4,
        hidden_dims=[100] * 2, activation_type="lrelu", activation_params=dict(negative_slope=0.01),
        pooling_type="avg", pooling_params=dict(kernel_size=2), batchnorm=True, dropout=0.1,
    )  # fmt: skip
    assert str(net.mlp[0]) == "Linear(in_features=160000, out_features=100, bias=True)"
    kinds = [type(m) for m in net.feature_extractor]
    assert kinds == [ResidualBlock, nn.AvgPool2d, ResidualBlock]  # last group is partial
    first, last = net.feature_extractor[0], net.feature_extractor[2]
    assert len([m for m in first.main_path if isinstance(m, nn.Conv2d)]) == 4
    assert isinstance(last.shortcut_path, nn.Identity)  # 64 -> [32, 64]


def test_bottleneck_resnet_on_100px_input():
    # 100 -> 50 -> 25 -> 12 -> 6 after four pools: 64 * 6 * 6 = 2304 features
    net = ResNet(
        in_size=(3, 100, 100), out_classes=10, channels=[64, 16, 64] * 4, pool_every=3,
        hidden_dims=[64], activation_type="tanh", pooling_type="max",
        pooling_params=dict(kernel_size=2), batchnorm=True, dropout=0.1, bottleneck=True,
    )  # fmt: skip
    assert str(net.mlp[0]) == "Linear(in_features=2304, out_features=64, bias=True)"
    blocks = [type(m) for m in net.feature_extractor if not isinstance(m, nn.MaxPool2d)]
    # the first group sees 3 input channels, so it cannot be a bottleneck
    assert blocks == [ResidualBlock] + [ResidualBottleneckBlock] * 3
    assert net(torch.randn(1, 3, 100, 100)).shape == (1, 10)


def test_resnet_keeps_3x3_blocks_when_conv_params_change_the_size():
    with pytest.warns(UserWarning, match="3x3"):
        net = ResNet((3, 16, 16), 2, [4], 1, [], conv_params={"kernel_size": 3, "stride": 2})
    assert net.feature_extractor[0].main_path[0].kernel_size == (3, 3)
    assert net.feature_extractor[0].main_path[0].stride == (1, 1)
    net = ResNet((3, 16, 16), 2, [4], 1, [], conv_params={"kernel_size": 5, "padding": 2})
    assert net.feature_extractor[0].main_path[0].kernel_size == (5, 5)
