"""Probes of an EdgeCNN's internals agree with its forward pass and count its channels."""

import pytest
import torch

from scratchlab.models import (
    DeeperCNN,
    SimpleCNN,
    dead_channels,
    first_conv_weights,
    layer_stats,
    layer_stats_many,
    neighbour_correlation,
    relu_outputs,
    stacked_layer_stats,
)

X = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def test_relu_outputs_are_the_forward_pass():
    torch.manual_seed(0)
    model = DeeperCNN(kernel_size=3)
    outputs, scores = relu_outputs(model, X)
    assert len(outputs) == 4 and all((o >= 0).all() for o in outputs)
    assert torch.equal(scores, model(X))


def test_dead_channels_and_layer_stats_cover_every_relu_layer():
    torch.manual_seed(0)
    model = SimpleCNN(kernel_size=7)
    with torch.no_grad():
        model.conv1.bias.fill_(-100.0)  # nothing passes the first ReLU
    assert dead_channels(model, X).split()[0] == "3/3"
    stats = layer_stats(model, X, torch.arange(6) % 3)
    assert len(stats) == 2 and stats[0]["dead"] == 1.0 and stats[0]["spread"] == 0.0
    assert first_conv_weights(model).shape == (3, 1, 7, 7)


def test_neighbour_correlation_of_a_smooth_kernel_is_high():
    ramp = torch.arange(49.0).reshape(1, 1, 7, 7)
    assert neighbour_correlation(ramp) > 0.9


@pytest.mark.parametrize("method", ["stacked", "vmap", "loop", None])
@pytest.mark.parametrize("network", [DeeperCNN, SimpleCNN])
def test_layer_stats_many_equals_layer_stats_model_by_model(method, network):
    models = []
    for seed in range(4):
        torch.manual_seed(seed)
        models.append(network(kernel_size=3))
    with torch.no_grad():
        models[1].features[0].bias.fill_(-100.0)  # a draw with every channel dead
    y = torch.arange(6) % 3
    layers = sum(isinstance(m, torch.nn.ReLU) for m in models[0].features)
    together = layer_stats_many(models, X, y, method=method)
    for model, stats in zip(models, together, strict=True):
        alone = layer_stats(model, X, y)
        assert len(stats) == len(alone) == layers
        for mine, theirs in zip(stats, alone, strict=True):
            assert mine["dead"] == theirs["dead"] and mine["constant"] == theirs["constant"]
            for key in ("spread", "grad"):
                assert abs(mine[key] - theirs[key]) <= 1e-4 * abs(theirs[key]) + 1e-9, key
    assert together[1][0]["dead"] == 1.0 and together[1][0]["grad"] == 0.0


def test_layer_stats_many_names_its_methods():
    with pytest.raises(ValueError, match="one of stacked, vmap, loop"):
        layer_stats_many([SimpleCNN(kernel_size=3)], X, torch.arange(6) % 3, method="fast")
    params, buffers = torch.func.stack_module_state([SimpleCNN(kernel_size=3)])
    with pytest.raises(ValueError, match="stacked or vmap"):
        stacked_layer_stats(SimpleCNN(kernel_size=3), params, buffers, X, torch.arange(6) % 3,
                            method="loop")


def test_layer_stats_many_takes_no_models_grad_mode_off_and_the_older_switch():
    y = torch.arange(6) % 3
    assert layer_stats_many([], X, y, method="stacked") == []
    torch.manual_seed(0)
    models = [SimpleCNN(kernel_size=3), SimpleCNN(kernel_size=3)]
    with torch.no_grad():
        stacked = layer_stats_many(models, X, y, method="stacked")
    looped = layer_stats_many(models, X, y, vectorised=False)
    for mine, theirs in zip(stacked, looped, strict=True):
        for a, b in zip(mine, theirs, strict=True):
            assert a["grad"] == pytest.approx(b["grad"], rel=1e-4) and a["grad"] > 0


def test_a_layer_that_mixes_channels_is_not_stacked():
    models = []
    for seed in range(2):
        torch.manual_seed(seed)
        model = SimpleCNN(kernel_size=3)
        model.maxpool = torch.nn.LocalResponseNorm(2, alpha=10.0)  # in the pool's place
        models.append(model)
    y = torch.arange(6) % 3
    stacked = layer_stats_many(models, X, y, method="stacked")
    for model, stats in zip(models, stacked, strict=True):
        assert [s["spread"] for s in stats] == pytest.approx(
            [s["spread"] for s in layer_stats(model, X, y)], rel=1e-4)
