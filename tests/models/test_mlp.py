"""MLP: structure, forward arithmetic, activations by name and errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from scratchlab.errors import ConfigError, ScratchlabError, ShapeError
from scratchlab.models import ACTIVATIONS, MLP, make_activation


def test_layers_follow_dims_and_nonlins():
    mlp = MLP(12, [8, 5, 2], ["relu", "tanh", "none"])
    kinds = [type(m) for m in mlp]
    assert kinds == [nn.Linear, nn.ReLU, nn.Linear, nn.Tanh, nn.Linear]
    assert [(m.in_features, m.out_features) for m in mlp if isinstance(m, nn.Linear)] == [
        (12, 8),
        (8, 5),
        (5, 2),
    ]


def test_forward_matches_manual_computation_and_flattens_images():
    torch.manual_seed(0)
    mlp = MLP(3 * 4 * 4, [7, 3], ["lrelu", "sigmoid"]).double()
    x = torch.randn(5, 3, 4, 4, dtype=torch.float64)
    l1, l2 = mlp[0], mlp[2]
    h = torch.nn.functional.leaky_relu(x.reshape(5, -1) @ l1.weight.T + l1.bias, 0.01)
    expected = torch.sigmoid(h @ l2.weight.T + l2.bias)
    torch.testing.assert_close(mlp(x), expected)


def test_build_has_no_activation_after_last_linear():
    mlp = MLP.build(10, [16, 16], 4, activation="lrelu", activation_params={"negative_slope": 0.2})
    assert isinstance(mlp[-1], nn.Linear) and mlp[-1].out_features == 4
    acts = [m for m in mlp if isinstance(m, nn.LeakyReLU)]
    assert len(acts) == 2 and all(a.negative_slope == 0.2 for a in acts)
    assert mlp(torch.randn(3, 10)).shape == (3, 4)


def test_build_dropout_and_batchnorm_between_hidden_layers_only():
    mlp = MLP.build(10, [16, 8], 3, dropout=0.5, batchnorm=True)
    kinds = [type(m) for m in mlp]
    assert kinds == [
        nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout,
        nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout,
        nn.Linear,
    ]  # fmt: skip


def test_activation_module_is_copied_per_layer():
    act = nn.PReLU()
    mlp = MLP.build(4, [4, 4], 2, activation=act)
    prelus = [m for m in mlp if isinstance(m, nn.PReLU)]
    assert len(prelus) == 2 and prelus[0] is not prelus[1]


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_activation_name_builds(name):
    assert isinstance(make_activation(name), nn.Module)


def test_unknown_activation_lists_names():
    with pytest.raises(ConfigError, match="relu") as info:
        MLP.build(4, [4], 2, activation="swishy")
    assert isinstance(info.value, ScratchlabError)
    assert "swishy" in str(info.value)


def test_bad_activation_params_name_the_key():
    with pytest.raises(ConfigError, match="slope"):
        make_activation("lrelu", {"slope": 0.1})


def test_mismatched_nonlins_and_wrong_input_size():
    with pytest.raises(ConfigError, match="nonlins"):
        MLP(4, [4, 2], ["relu"])
    with pytest.raises(ShapeError, match="in_dim=5"):
        MLP(4, [2], ["none"])(torch.randn(2, 5))
