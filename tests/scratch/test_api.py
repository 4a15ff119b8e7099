"""The Layer API: repr, errors, containers, modes, dtype conversion and state dicts."""

from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch

from scratchlab import scratch
from scratchlab.errors import CheckpointError, ConfigError, ScratchlabError, ShapeError


def test_reprs():
    assert str(scratch.Linear(200, 100)) == "Linear(in_features=200, out_features=100)"
    assert str(scratch.ReLU()) == "ReLU"
    assert str(scratch.LeakyReLU()) == "LeakyReLU(alpha=0.01)"
    assert str(scratch.Dropout(0.6)) == "Dropout(p=0.6)"
    seq = scratch.Sequential(scratch.Linear(3, 2), scratch.TanH())
    assert str(seq) == "Sequential(\n  (0): Linear(in_features=3, out_features=2)\n  (1): TanH\n)"
    assert "Dropout(p=0.5)" in str(scratch.MLP(4, 2, [8], dropout=0.5))


def test_linear_shape_error_names_layer_and_shapes():
    with pytest.raises(ShapeError) as info:
        scratch.Linear(200, 100)(torch.zeros(10, 150))
    message = str(info.value)
    assert "Linear(in_features=200, out_features=100)" in message
    assert "(N, 200)" in message and "(10, 150)" in message


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: scratch.Conv2d(3, 4, 3)(torch.zeros(2, 2, 5, 5)), ShapeError),
        (lambda: scratch.Conv2d(3, 4, 7)(torch.zeros(2, 3, 5, 5)), ShapeError),
        (lambda: scratch.MaxPool2d(2)(torch.zeros(2, 5)), ShapeError),
        (lambda: scratch.BatchNorm(3)(torch.zeros(2, 4)), ShapeError),
        (
            lambda: scratch.CrossEntropyLoss()(torch.zeros(2, 4), torch.zeros(3, dtype=torch.long)),
            ShapeError,
        ),
        (lambda: scratch.CrossEntropyLoss()(torch.zeros(2, 4), torch.tensor([0, 4])), ShapeError),
        (lambda: scratch.BCELoss()(torch.zeros(2, 4), torch.zeros(2)), ShapeError),
        (lambda: scratch.LeakyReLU(1.0), ConfigError),
        (lambda: scratch.LeakyReLU(-0.1), ConfigError),
        (lambda: scratch.Dropout(1.0), ConfigError),
        (lambda: scratch.Dropout(-0.5), ConfigError),
        (lambda: scratch.MLP(4, 2, [8], dropout=1.5), ConfigError),
        (lambda: scratch.Conv2d(3, 4, 0), ConfigError),
        (lambda: scratch.Linear(0, 3), ConfigError),
        (lambda: scratch.ReLU().backward(torch.zeros(2)), ScratchlabError),
    ],
)
def test_user_errors_are_scratchlab_errors(call, error):
    with pytest.raises(error):
        call()


def test_leaky_relu_error_names_alpha():
    with pytest.raises(ConfigError, match="alpha"):
        scratch.LeakyReLU(2.0)


def test_unknown_activation_lists_known_names():
    with pytest.raises(ConfigError) as info:
        scratch.MLP(4, 2, [8], activation="swish")
    assert "swish" in str(info.value)
    assert all(name in str(info.value) for name in ("relu", "sigmoid", "tanh", "lrelu"))


@pytest.mark.parametrize(
    ("activation", "kind"), [(a, type(scratch.activation_layer(a))) for a in scratch.ACTIVATIONS]
)
def test_mlp_structure(activation, kind):
    mlp = scratch.MLP(10, 3, [8, 6], activation=activation, dropout=0.2, wstd=0.5)
    kinds = [type(layer) for layer in mlp.sequence]
    assert kinds == [scratch.Linear, kind, scratch.Dropout] * 2 + [scratch.Linear]
    assert [tuple(p.shape) for p, _ in mlp.params()] == [(8, 10), (8,), (6, 8), (6,), (3, 6), (3,)]
    assert mlp(torch.zeros(4, 10)).shape == (4, 3)
    assert len(scratch.MLP(10, 3, [8]).sequence) == 3


def test_sequential_container_and_loss():
    layers = [
        scratch.Linear(4, 3),
        scratch.ReLU(),
        scratch.Linear(3, 2),
        scratch.CrossEntropyLoss(),
    ]
    seq = scratch.Sequential(*layers)
    assert len(seq) == 4 and seq[1] is layers[1] and list(seq) == layers
    assert isinstance(seq[:2], scratch.Sequential) and len(seq[:2]) == 2
    assert [id(p) for p, _ in seq.params()] == [
        id(p) for layer in layers for p, _ in layer.params()
    ]
    x, y = torch.randn(5, 4), torch.randint(0, 2, (5,))
    loss = seq(x, y=y)
    assert loss.ndim == 0
    dx = seq.backward()  # dout = 1.0 for the final loss
    assert dx.shape == x.shape


def test_backward_accumulates_until_zero_grad():
    torch.manual_seed(0)
    layer, x, dout = scratch.Linear(4, 3), torch.randn(5, 4), torch.randn(5, 3)
    layer(x)
    layer.backward(dout)
    once = [g.clone() for _, g in layer.params()]
    layer(x)
    layer.backward(dout)
    assert all(torch.allclose(g, 2 * g1) for (_, g), g1 in zip(layer.params(), once, strict=True))
    grads = [g for _, g in layer.params()]
    layer.zero_grad()
    assert all(g is g0 and not g.any() for (_, g), g0 in zip(layer.params(), grads, strict=True))


def test_train_eval_propagate():
    mlp = scratch.MLP(4, 2, [8], dropout=0.5)
    assert mlp.eval() is mlp and not any(layer.training for layer in mlp.sequence)
    assert mlp.train() is mlp and all(layer.training for layer in mlp.sequence)


def test_to_float64_converts_params_grads_and_buffers():
    cnn = scratch.Sequential(scratch.Conv2d(1, 2, 3), scratch.BatchNorm(2), scratch.Flatten())
    cnn.to(dtype=torch.float64)
    assert all(p.dtype == g.dtype == torch.float64 for p, g in cnn.params())
    assert all(v.dtype == torch.float64 for v in cnn.state_dict().values())
    assert cnn(torch.randn(2, 1, 5, 5, dtype=torch.float64)).dtype == torch.float64


def test_state_dict_round_trip_keeps_tensors_in_place():
    torch.manual_seed(0)
    source = scratch.Sequential(scratch.MLP(4, 2, [8]), scratch.BatchNorm(2))
    source(torch.randn(6, 4))  # updates running stats
    target = scratch.Sequential(scratch.MLP(4, 2, [8]), scratch.BatchNorm(2))
    params_before = [p for p, _ in target.params()]
    buffer = io.BytesIO()
    torch.save(source.state_dict(), buffer)
    buffer.seek(0)
    target.load_state_dict(torch.load(buffer))
    assert "0.sequence.0.w" in source.state_dict() and "1.running_var" in source.state_dict()
    assert all(p is q for (p, _), q in zip(target.params(), params_before, strict=True))
    x = torch.randn(3, 4)
    assert torch.equal(source.eval()(x), target.eval()(x))


def test_load_state_dict_mismatch_is_checkpoint_error():
    with pytest.raises(CheckpointError):
        scratch.MLP(4, 2, [8]).load_state_dict(scratch.MLP(4, 2, [8, 8]).state_dict())
    with pytest.raises(CheckpointError):
        scratch.MLP(4, 2, [8]).load_state_dict(scratch.MLP(4, 2, [9]).state_dict())


def test_copy_and_pickle_after_an_autograd_forward():
    layer = scratch.Linear(4, 3)
    scratch.compare_to_autograd(layer, torch.randn(2, 4))
    layer(torch.randn(2, 4, requires_grad=True) * 2)  # keeps a non-leaf tensor (autograd history)
    clone = copy.deepcopy(layer)
    assert torch.equal(clone.w, layer.w) and clone.w is not layer.w
    assert torch.equal(pickle.loads(pickle.dumps(layer)).w, layer.w)
