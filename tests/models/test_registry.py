"""build_model: every family from one uniform spec, aliases, errors, custom registration."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from scratchlab.errors import ConfigError
from scratchlab.models import (
    CNN,
    MLP,
    ResNet,
    SimpleCNN,
    YourCNN,
    build_model,
    known_keys,
    model_names,
    register_model,
)
from scratchlab.models import registry as registry_module

UNIFORM = dict(
    in_size=(1, 28, 28),
    out_classes=3,
    channels=[4, 4, 8],
    pool_every=2,
    hidden_dims=[10],
    activation_type="relu",
    activation_params={},
    pooling_type="max",
    pooling_params={"kernel_size": 2},
    conv_params={"kernel_size": 3, "padding": 1},
    batchnorm=True,
    dropout=0.1,
    bottleneck=False,
    kernel_size=5,
    num_filters=4,
)


@pytest.mark.parametrize("name", model_names())
def test_every_family_builds_from_the_uniform_spec_and_runs(name):
    three = {"num_filters": 3} if name == "cnn_edge_init" else {}  # the notebook's set-up needs 3
    model = build_model({"model_type": name, **UNIFORM, **three})
    assert isinstance(model, nn.Module)
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 28, 28)).shape == (2, 3)


def test_all_brief_names_are_registered():
    names = {"mlp", "cnn", "resnet", "yourcnn", "simplecnn", "cnn_avgpool", "cnn_edge_init"}
    names |= {"wider_cnn", "deeper_cnn", "two_layer_mlp", "three_layer_mlp"}
    assert names <= set(model_names())


def test_families_read_their_own_keys():
    spec = {"model_type": "cnn", **UNIFORM}
    cnn = build_model(spec)
    assert type(cnn) is CNN and cnn.channels == [4, 4, 8] and cnn.hidden_dims == [10]
    resnet = build_model({**spec, "model_type": "resnet"})
    assert type(resnet) is ResNet and resnet.batchnorm and resnet.dropout == 0.1
    assert type(build_model({**spec, "model_type": "yourcnn"})) is YourCNN
    simple = build_model({**spec, "model_type": "simplecnn"})
    assert type(simple) is SimpleCNN and simple.features[0].kernel_size == (5, 5)
    avg = build_model({**spec, "model_type": "cnn_avgpool"})
    assert isinstance(avg.features[2], nn.AvgPool2d)
    edge = build_model({**spec, "model_type": "cnn_edge_init", "num_filters": 3})
    assert not edge.conv1.weight.requires_grad and not edge.conv2.weight.requires_grad
    with pytest.raises(ConfigError, match="3 filters"):
        build_model({**spec, "model_type": "cnn_edge_init"})
    mlp = build_model({**spec, "model_type": "mlp"})
    assert type(mlp) is MLP and mlp[0].in_features == 784 and mlp[0].out_features == 10


def test_aliases():
    mlp = build_model({"model_type": "mlp", "in_features": 6, "num_classes": 2})
    assert (mlp[0].in_features, mlp[-1].out_features) == (6, 2)
    net = build_model({"model_type": "two_layer_mlp", "num_classes": 5, "hidden": 7})
    assert net.fc2.out_features == 5 and net.fc1.out_features == 7
    with pytest.raises(ConfigError, match="disagree"):
        build_model({"model_type": "mlp", "in_features": 6, "num_classes": 2, "out_classes": 3})


def test_unknown_model_type_lists_names():
    with pytest.raises(ConfigError, match="resnet") as info:
        build_model({"model_type": "transformer"})
    assert "transformer" in str(info.value)


def test_key_no_family_reads_is_an_error():
    with pytest.raises(ConfigError, match="chanels"):
        build_model({"model_type": "cnn", **UNIFORM, "chanels": [4]})
    assert "chanels" not in known_keys()


@pytest.mark.parametrize(
    "change,match",
    [
        ({"channels": [4, 0]}, "channels"),
        ({"pool_every": "2"}, "pool_every"),
        ({"activation_type": "swish2"}, "activation_type"),
        ({"pooling_params": {"size": 2}}, "size"),
        ({"dropout": 1.5}, "dropout"),
        ({"in_size": (28, 28)}, "in_size"),
    ],
)
def test_bad_option_names_it(change, match):
    with pytest.raises(ConfigError, match=match):
        build_model({"model_type": "resnet", **UNIFORM, **change})


def test_missing_required_option():
    with pytest.raises(ConfigError, match="channels"):
        build_model({"model_type": "cnn", "in_size": (1, 8, 8), "out_classes": 2})
    with pytest.raises(ConfigError, match="mapping"):
        build_model(["cnn"])


def test_register_custom_family():
    name = "test_tiny_linear"

    @register_model(name)
    def tiny(in_size, out_classes, scale: float = 1.0):
        return nn.Sequential(nn.Flatten(), nn.Linear(in_size[0], out_classes))

    try:
        assert name in model_names() and "scale" in known_keys()
        model = build_model({"model_type": name, "in_features": 4, "num_classes": 2, "scale": 2})
        assert model(torch.randn(3, 4)).shape == (3, 2)
        with pytest.raises(ConfigError, match="already registered"):
            register_model(name)(tiny)
    finally:
        registry_module._REGISTRY.pop(name)
