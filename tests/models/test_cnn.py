"""CNN: the printed structure of the classic configurations, shape checks and errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from scratchlab.errors import ConfigError, ShapeError
from scratchlab.models import CNN

BASE = dict(in_size=(3, 100, 100), out_classes=10, channels=[32] * 4, pool_every=2)
CONFIGS = [
    # (constructor arguments, conv (k, s, p), pool k, expected first head layer)
    (
        dict(BASE, hidden_dims=[100] * 2, conv_params=dict(kernel_size=3, stride=1, padding=1)),
        (3, 1, 1),
        2,
        "Linear(in_features=20000, out_features=100, bias=True)",
    ),
    (
        dict(
            BASE,
            hidden_dims=[100] * 2,
            conv_params=dict(kernel_size=5, stride=2, padding=3),
            activation_type="lrelu",
            activation_params=dict(negative_slope=0.05),
            pooling_type="avg",
            pooling_params=dict(kernel_size=3),
        ),
        (5, 2, 3),
        3,
        "Linear(in_features=32, out_features=100, bias=True)",
    ),
    (
        dict(
            BASE,
            out_classes=3,
            channels=[16] * 5,
            pool_every=3,
            hidden_dims=[100],
            conv_params=dict(kernel_size=2, stride=2, padding=2),
            activation_type="lrelu",
            activation_params=dict(negative_slope=0.1),
            pooling_type="max",
            pooling_params=dict(kernel_size=2),
        ),
        (2, 2, 2),
        2,
        "Linear(in_features=400, out_features=100, bias=True)",
    ),
]


def expected_features(conv_out, args, conv, pool_k):
    """Flattened feature size by shape arithmetic, independent of the model code."""
    n, p_every, channels = args["in_size"][1], args["pool_every"], args["channels"]
    for i in range(len(channels)):
        n = conv_out(n, *conv)
        if (i + 1) % p_every == 0:
            n = conv_out(n, pool_k, pool_k)
    return channels[-1] * n * n


@pytest.mark.parametrize("args,conv,pool_k,first", CONFIGS)
def test_classic_configs_structure(conv_out, args, conv, pool_k, first):
    cnn = CNN(**args)
    assert str(cnn.mlp[0]) == first
    assert cnn.mlp[0].in_features == expected_features(conv_out, args, conv, pool_k)
    act = nn.ReLU if args.get("activation_type", "relu") == "relu" else nn.LeakyReLU
    pool = nn.AvgPool2d if args.get("pooling_type") == "avg" else nn.MaxPool2d
    expected = []
    for i in range(len(args["channels"])):
        expected += [nn.Conv2d, act]
        if (i + 1) % args["pool_every"] == 0:
            expected.append(pool)
    assert [type(m) for m in cnn.feature_extractor] == expected
    head = [type(m) for m in cnn.mlp]
    assert head == [nn.Linear, act] * len(args["hidden_dims"]) + [nn.Linear]
    assert cnn.mlp[-1].out_features == args["out_classes"]
    for m in cnn.feature_extractor:
        if isinstance(m, nn.Conv2d):
            assert (m.kernel_size[0], m.stride[0], m.padding[0]) == conv
        if isinstance(m, nn.LeakyReLU):
            assert m.negative_slope == args["activation_params"]["negative_slope"]


def test_forward_shape_and_backward():
    cnn = CNN((3, 16, 16), 5, [4, 8, 8], 2, [10])
    out = cnn(torch.randn(2, 3, 16, 16))
    assert out.shape == (2, 5)
    out.sum().backward()
    assert all(p.grad is not None for p in cnn.parameters())


def test_default_conv_params_keep_size():
    cnn = CNN((1, 8, 8), 2, [4], 2, [])
    conv = cnn.feature_extractor[0]
    assert (conv.kernel_size, conv.padding) == ((3, 3), (1, 1))
    assert cnn.mlp[0].in_features == 4 * 8 * 8  # partial group: no pool


def test_collapsing_map_names_the_layer_and_shape():
    with pytest.raises(ConfigError, match=r"feature_extractor\[11\].*\(8, 1, 1\)"):
        CNN((3, 8, 8), 2, [8] * 4, 1, [])


def test_bad_options_raise_config_errors():
    with pytest.raises(ConfigError, match="kernal_size"):
        CNN((3, 8, 8), 2, [4], 1, [], conv_params={"kernal_size": 3})
    with pytest.raises(ConfigError, match="pooling_type"):
        CNN((3, 8, 8), 2, [4], 1, [], pooling_type="median")
    with pytest.raises(ConfigError, match="channels"):
        CNN((3, 8, 8), 2, [], 1, [])
    with pytest.raises(ConfigError, match="pool_every"):
        CNN((3, 8, 8), 2, [4], 0, [])
    with pytest.raises(ConfigError, match="in_size"):
        CNN((8, 8), 2, [4], 1, [])


def test_wrong_input_size_is_a_shape_error():
    cnn = CNN((3, 16, 16), 5, [4], 1, [])
    with pytest.raises(ShapeError, match="in_size"):
        cnn(torch.randn(1, 3, 20, 20))
